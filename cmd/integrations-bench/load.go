package main

import (
	"context"
	"os"
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
	// CPU time integrationsd and this process (the load generator, on the same
	// machine) spent while the calls ran.
	serverCPU, clientCPU time.Duration
	// rounds are the figures of each round of alternate, in order.
	rounds []stats
}

func (s *stats) add(o stats) {
	s.calls += o.calls
	s.errors += o.errors
	s.elapsed += o.elapsed
	s.latencies = append(s.latencies, o.latencies...)
	s.serverCPU += o.serverCPU
	s.clientCPU += o.clientCPU
}

// perCall is d spread over the calls.
func (s *stats) perCall(d time.Duration) time.Duration {
	if s.calls == 0 {
		return 0
	}
	return d / time.Duration(s.calls)
}

func (s *stats) rps() float64 {
	if s.elapsed == 0 {
		return 0
	}
	return float64(s.calls) / s.elapsed.Seconds()
}

// throughput, p50, p99 and serverCPU are figures a target compares.
func throughput(s *stats) float64 { return s.rps() }
func serverCPU(s *stats) float64  { return float64(s.perCall(s.serverCPU)) }
func p50(s *stats) float64        { return float64(s.percentile(0.5)) }
func p99(s *stats) float64        { return float64(s.percentile(0.99)) }

func (s *stats) percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	slices.Sort(s.latencies)
	return s.latencies[min(len(s.latencies)-1, int(float64(len(s.latencies))*p))]
}

// op is a call to measure, on the integrationsd that serves it.
type op struct {
	call   func(context.Context) error
	daemon *daemon
	// background, when set, runs alongside the measured calls until its
	// context ends: load the op is measured under, not measured itself.
	background func(context.Context)
}

// drive calls o from inFlight goroutines for d and measures every call.
func drive(ctx context.Context, inFlight int, d time.Duration, o op) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if o.background != nil {
		var wg sync.WaitGroup
		wg.Go(func() { o.background(ctx) })
		defer wg.Wait()
	}
	return measure(o.daemon, inFlight,
		func() (int, bool) { return 0, ctx.Err() == nil },
		func(int) error { return o.call(context.WithoutCancel(ctx)) })
}

// measure calls op from inFlight goroutines as long as next hands out work,
// and measures every call and the CPU time server (the integrationsd that
// serves op) and this process spend meanwhile.
func measure(server *daemon, inFlight int, next func() (int, bool), op func(i int) error) stats {
	results := make([]stats, inFlight)
	var wg sync.WaitGroup
	serverBefore, clientBefore := server.cpuTime(), cpuTime(os.Getpid())
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
	total.serverCPU = server.cpuTime() - serverBefore
	total.clientCPU = cpuTime(os.Getpid()) - clientBefore
	return total
}

// alternate measures ops in interleaved rounds, so all see the same machine
// noise, and returns their totals in the order given. Each op is first driven
// unmeasured for a quarter round, so that a server started for the comparison
// is not measured while its caches, stacks and flow-control windows warm up;
// and every other round runs the ops in reverse order, so that none always
// goes first: without both, a server measured against another of the same
// build came out behind it on average.
func alternate(ctx context.Context, rounds, inFlight int, round time.Duration, ops ...op) []stats {
	for _, o := range ops {
		drive(ctx, inFlight, round/4, o)
	}
	totals := make([]stats, len(ops))
	for r := range rounds {
		for i := range ops {
			if r%2 == 1 {
				i = len(ops) - 1 - i
			}
			s := drive(ctx, inFlight, round, ops[i])
			totals[i].add(s)
			totals[i].rounds = append(totals[i].rounds, s)
		}
	}
	return totals
}

// count runs op for i in [0, n) from inFlight goroutines against server and
// measures it.
func count(server *daemon, inFlight, n int, op func(i int) error) stats {
	var next atomic.Int64
	return measure(server, inFlight, func() (int, bool) {
		i := int(next.Add(1) - 1)
		return i, i < n
	}, op)
}
