package main

import (
	"testing"
	"time"
)

// The CPU columns come from utime and stime of /proc/PID/stat, in USER_HZ
// ticks, counted after the command name whatever it holds.
func TestStatCPUTimeReadsUtimeAndStime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stat string
		want time.Duration
	}{
		{"plain name", "4242 (integrationsd) S 1 4242 4242 0 -1 4194560 9386 0 0 0 250 75 0 0 20 0 9 0 1234 2000000 4000 18446744073709551615", 3250 * time.Millisecond},
		{"name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0 0", 30 * time.Millisecond},
		{"cut short", "7 (x) R 1 7 7", 0},
		{"no name", "garbage", 0},
		{"not numbers", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s 0 0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := statCPUTime([]byte(tc.stat)); got != tc.want {
				t.Fatalf("statCPUTime(%q) = %v, want %v", tc.stat, got, tc.want)
			}
		})
	}
}
