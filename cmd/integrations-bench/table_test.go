package main

import (
	"bytes"
	"regexp"
	"testing"
	"time"
)

// measuredRounds is what alternate returns for an op that made calls[i] calls
// in round i, each round a second long.
func measuredRounds(calls ...int) stats {
	var total stats
	for _, n := range calls {
		round := stats{calls: n, elapsed: time.Second}
		total.add(round)
		total.rounds = append(total.rounds, round)
	}
	return total
}

// A compared target is decided by the whole run's ratio, and printed with the
// range of its rounds' ratios beside it.
func TestCompareDecidesOnTheWholeRunAndPrintsTheRangeOfItsRounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		a, b     stats
		ok       bool
		wantLine string
	}{
		{"held though a round fell short", measuredRounds(100, 80), measuredRounds(100, 100), true,
			`^throughput +0\.90 +0\.80-1\.00 +>= 0\.85 +ok$`},
		{"missed though a round held", measuredRounds(90, 70), measuredRounds(100, 100), false,
			`^throughput +0\.80 +0\.70-0\.90 +>= 0\.85 +MISSED$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tab table
			tab.compare("throughput", tc.a, tc.b, throughput, ">=", 0.85)
			var out bytes.Buffer
			if ok := tab.print(&out); ok != tc.ok {
				t.Errorf("print reported %v, want %v", ok, tc.ok)
			}
			if !regexp.MustCompile(`(?m)` + tc.wantLine).Match(out.Bytes()) {
				t.Errorf("no line matching %s in:\n%s", tc.wantLine, out.String())
			}
		})
	}
}

// A ratio whose denominator was not measured (integrationsd's CPU time reads
// zero where /proc cannot tell, as daemon.go says) is no measurement: an
// at-most target on it must not hold by reading 0.
func TestAnAtMostTargetOnAnUnmeasuredFigureIsMissed(t *testing.T) {
	t.Parallel()
	get, check := measuredRounds(100, 100), measuredRounds(100, 100) // no CPU time measured
	var tab table
	tab.compare("integrationsd CPU per call, Get/Check", get, check, serverCPU, "<=", 1.35)
	var out bytes.Buffer
	if tab.print(&out) {
		t.Errorf("a CPU target with no CPU time measured held:\n%s", out.String())
	}
}
