package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

// Every op is driven once unmeasured before the rounds, and the rounds take
// the ops in turn forwards and backwards, so that no op always goes first.
func TestAlternateWarmsUpEveryOpAndReversesEveryOtherRound(t *testing.T) {
	t.Parallel()
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	server := &daemon{cmd: &exec.Cmd{Process: self}}
	// segments are the runs of consecutive calls to one op, in call order.
	type segment struct{ op, calls int }
	var (
		mu       sync.Mutex
		segments []segment
	)
	ops := make([]op, 3)
	for i := range ops {
		ops[i] = op{daemon: server, call: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if n := len(segments); n > 0 && segments[n-1].op == i {
				segments[n-1].calls++
			} else {
				segments = append(segments, segment{op: i, calls: 1})
			}
			time.Sleep(100 * time.Microsecond) // not a poll: a call takes a while
			return nil
		}}
	}
	totals := alternate(context.Background(), 4, 1, 40*time.Millisecond, ops...)

	var order []int
	for _, s := range segments {
		order = append(order, s.op)
	}
	// Warm-ups 0 1 2, then rounds 0 1 2 | 2 1 0 | 0 1 2 | 2 1 0, where an op
	// that ends one round and starts the next makes one run of calls.
	if want := []int{0, 1, 2, 0, 1, 2, 1, 0, 1, 2, 1, 0}; !slices.Equal(order, want) {
		t.Fatalf("ops ran in the order %v, want %v", order, want)
	}
	for i := range ops {
		var all int
		for _, s := range segments {
			if s.op == i {
				all += s.calls
			}
		}
		if warmUp := segments[i].calls; totals[i].calls != all-warmUp {
			t.Errorf("op %d: %d calls measured, want its %d calls but the %d of its warm-up", i, totals[i].calls, all, warmUp)
		}
	}
}
