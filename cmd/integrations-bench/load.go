package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the figures of one operation over all its rounds.
type stats struct {
	calls     int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (s *stats) add(o stats) {
	s.calls += o.calls
	s.errors += o.errors
	s.elapsed += o.elapsed
	s.latencies = append(s.latencies, o.latencies...)
}

func (s *stats) rps() float64 {
	if s.elapsed == 0 {
		return 0
	}
	return float64(s.calls) / s.elapsed.Seconds()
}

func (s *stats) percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	slices.Sort(s.latencies)
	return s.latencies[min(len(s.latencies)-1, int(float64(len(s.latencies))*p))]
}

// drive calls op from inFlight goroutines for d and measures every call.
func drive(ctx context.Context, inFlight int, d time.Duration, op func(context.Context) error) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return measure(inFlight,
		func() (int, bool) { return 0, ctx.Err() == nil },
		func(int) error { return op(context.WithoutCancel(ctx)) })
}

// measure calls op from inFlight goroutines as long as next hands out work,
// and measures every call.
func measure(inFlight int, next func() (int, bool), op func(i int) error) stats {
	results := make([]stats, inFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range inFlight {
		wg.Go(func() {
			r := &results[w]
			r.latencies = make([]time.Duration, 0, 4096)
			for i, ok := next(); ok; i, ok = next() {
				t0 := time.Now()
				if op(i) != nil {
					r.errors++
				}
				r.latencies = append(r.latencies, time.Since(t0))
				r.calls++
			}
		})
	}
	wg.Wait()
	total := stats{}
	for _, r := range results {
		total.add(r)
	}
	total.elapsed = time.Since(start)
	return total
}

// alternate measures a and b in interleaved rounds, so both see the same machine
// noise, and returns their totals.
func alternate(ctx context.Context, rounds, inFlight int, round time.Duration, a, b func(context.Context) error) (stats, stats) {
	var sa, sb stats
	for range rounds {
		sa.add(drive(ctx, inFlight, round, a))
		sb.add(drive(ctx, inFlight, round, b))
	}
	return sa, sb
}

// count runs op for i in [0, n) from inFlight goroutines and measures it.
func count(inFlight, n int, op func(i int) error) stats {
	var next atomic.Int64
	return measure(inFlight, func() (int, bool) {
		i := int(next.Add(1) - 1)
		return i, i < n
	}, op)
}
