// Command integrations-bench measures integrationsd as a separate process on
// loopback: GetIntegration against the health Check (the cost of a gRPC call that
// does nothing) on the same connection, the same read with 100 and 100,000
// mappings, UpsertMapping throughput, peak memory, and reads while tokens expire
// every 45 seconds at a slow provider. Compared figures come from interleaved rounds
// of one run, so machine noise hits both sides alike; it prints ratios and
// whether each target holds.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

type config struct {
	binary           string
	round            time.Duration
	rounds           int
	inFlight         int
	mappings         int
	integrations     int
	refreshDuration  time.Duration
	refreshRound     time.Duration
	providerDelay    time.Duration
	tokenLifetime    time.Duration
	aheadTokens      int
	aheadLifetime    time.Duration
	aheadConcurrency int
	postgres         string
	cpuProfile       string
	compareWith      string
}

func main() {
	var c config
	flag.StringVar(&c.binary, "integrationsd", "bin/integrationsd", "integrationsd binary to run")
	flag.DurationVar(&c.round, "round", 1500*time.Millisecond, "length of one measured round")
	flag.IntVar(&c.rounds, "rounds", 4, "rounds per side of each comparison (every other round runs the sides in reverse order, so an even number gives each side every place equally often)")
	flag.IntVar(&c.inFlight, "concurrency", 32, "calls in flight for the concurrent figures")
	flag.IntVar(&c.mappings, "mappings", 100_000, "mappings of the large integration")
	flag.IntVar(&c.integrations, "integrations", 1000, "integrations in the database")
	flag.DurationVar(&c.refreshDuration, "refresh-duration", 30*time.Second, "length of the token refresh scenario")
	flag.DurationVar(&c.refreshRound, "refresh-round", 7500*time.Millisecond, "round length in the refresh scenario")
	flag.DurationVar(&c.providerDelay, "provider-delay", 300*time.Millisecond, "how slowly the refresh scenario's provider answers")
	flag.DurationVar(&c.tokenLifetime, "token-lifetime", 45*time.Second, "how long the refresh scenario's tokens live")
	flag.IntVar(&c.aheadTokens, "ahead-tokens", 50_000, "tokens of the refresh-ahead scenario, over 10 connections")
	flag.DurationVar(&c.aheadLifetime, "ahead-lifetime", 5*time.Minute, "how long after seeding begins the refresh-ahead scenario's tokens expire, all together; the scenario lasts until they have entered their 30s margin")
	flag.IntVar(&c.aheadConcurrency, "ahead-concurrency", 6, "--refresh-concurrency of the refresh-ahead scenario's integrationsd")
	flag.StringVar(&c.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL to compare SQLite with (a fresh schema is used and dropped); empty to skip")
	flag.StringVar(&c.compareWith, "compare-with", "", "another integrationsd binary (built from other code) to measure GetIntegration on beside this one; empty to skip")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile here (integrationsd's: run with BIFROST_PPROF=true)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integrations-bench:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) (bool, error) {
	start := time.Now()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return false, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return false, err
		}
		defer pprof.StopCPUProfile()
	}
	d, err := startDaemon(ctx, c.binary)
	if err != nil {
		return false, err
	}
	defer d.stop()
	b, err := newBench(ctx, d, c)
	if err != nil {
		return false, err
	}
	defer b.close()
	var t table
	fmt.Fprintf(os.Stderr, "seeding and measuring against integrationsd at %s (HTTP %s) ...\n", d.addr, d.httpAddr)

	for _, n := range []int{1, c.inFlight} {
		ops := []op{b.check(), b.get("Bench", benchOrg)}
		if n == c.inFlight {
			// An authenticated read that returns no secret, so records no
			// audit event: how much of the Check's throughput the least a
			// workflow call does leaves. Measured in the same rounds, against
			// the same Check.
			ops = append(ops, b.getMapping("Small", benchOrg))
		}
		measured := alternate(ctx, c.rounds, n, c.round, ops...)
		check, get := measured[0], measured[1]
		t.row("health Check", n, check)
		t.row("GetIntegration (mapping, secret, token)", n, get)
		if n == c.inFlight {
			t.compare(fmt.Sprintf("Get/Check throughput at %d in flight", n), get, check, throughput, ">=", 0.7)
			t.compare(fmt.Sprintf("Get/Check p99 at %d in flight", n), get, check, p99, "<=", 2)
			// Both processes share the machine's cores: what each spends per
			// call says where the throughput goes.
			t.compare(fmt.Sprintf("integrationsd CPU per call, Get/Check at %d in flight", n), get, check, serverCPU, "<=", 1.35)
			t.note(fmt.Sprintf("bench CPU per call at %d in flight, Get/Check: %.2f", n, ratio(get.perCall(get.clientCPU), check.perCall(check.clientCPU))))
			mapping := measured[2]
			t.row("GetMapping (no secret, no audit event)", n, mapping)
			t.note(fmt.Sprintf("GetMapping/Check throughput at %d in flight: %.2f", n, mapping.rps()/check.rps()))
		}
	}

	if err := measureEvents(ctx, c, b, &t); err != nil {
		return false, err
	}
	if err := measureAudit(ctx, c, b, &t); err != nil {
		return false, err
	}
	if err := measurePostgres(ctx, c, b, &t); err != nil {
		return false, err
	}
	if err := measureBuilds(ctx, c, b, &t); err != nil {
		return false, err
	}

	writes, err := b.seedScale()
	if err != nil {
		return false, err
	}
	t.row(fmt.Sprintf("UpsertMapping (seeding %d)", c.mappings), c.inFlight, writes)
	scale := alternate(ctx, c.rounds, c.inFlight, c.round, b.get("Small", orgID(50)), b.get("Large", orgID(c.mappings/2)))
	small, large := scale[0], scale[1]
	t.row("GetIntegration, 100 mappings", c.inFlight, small)
	t.row(fmt.Sprintf("GetIntegration, %d mappings", c.mappings), c.inFlight, large)
	t.compare(fmt.Sprintf("cost of %d mappings vs 100 (p50)", c.mappings), large, small, p50, "<=", 1.2)

	if err := b.seedRefresh(); err != nil {
		return false, err
	}
	rounds := max(1, int(c.refreshDuration/(2*c.refreshRound)))
	refresh := alternate(ctx, rounds, c.inFlight, c.refreshRound, b.get("Bench", benchOrg), b.get("Rotating", benchOrg))
	fresh, rotating := refresh[0], refresh[1]
	t.row("GetIntegration, provider never called", c.inFlight, fresh)
	t.row(fmt.Sprintf("GetIntegration, %s tokens, %s provider", c.tokenLifetime, c.providerDelay), c.inFlight, rotating)
	t.compare("p99 with expiring tokens vs never", rotating, fresh, p99, "<=", 2)
	t.note(fmt.Sprintf("provider refresh calls during the scenario: %d", b.slow.Calls("refresh_token")))

	if err := measureRefreshAhead(ctx, c, &t); err != nil {
		return false, err
	}

	rss, err := d.peakRSS()
	if err != nil {
		return false, err
	}
	t.target("integrationsd peak resident memory (MB)", float64(rss)/(1<<20), "<=", 100, "")
	t.note(fmt.Sprintf("total run time %s", time.Since(start).Round(time.Second)))
	return t.print(os.Stdout), nil
}

// measureEvents measures GetIntegration while mappings are written (each an
// event) and every event is delivered to a webhook endpoint, against the same
// GetIntegration without, in the same rounds.
func measureEvents(ctx context.Context, c config, b *bench, t *table) error {
	var received atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer endpoint.Close()
	hook, err := b.admin.CreateWebhook(b.auth, &adminv1.CreateWebhookRequest{Url: endpoint.URL, Description: "integrations-bench"})
	if err != nil {
		return fmt.Errorf("subscribing the bench's endpoint: %w", err)
	}
	defer b.admin.DeleteWebhook(b.auth, &adminv1.DeleteWebhookRequest{Id: hook.GetWebhook().GetId()}) //nolint:errcheck // the daemon stops with the bench
	before, err := b.eventPosition()
	if err != nil {
		return err
	}
	plain := b.get("Bench", benchOrg)
	withEvents := plain
	withEvents.background = b.writeMappings(eventWriters)
	measured := alternate(ctx, c.rounds, c.inFlight, c.round, plain, withEvents)
	after, err := b.eventPosition()
	if err != nil {
		return err
	}
	t.row("GetIntegration, events written, delivered", c.inFlight, measured[1])
	t.note(fmt.Sprintf("GetIntegration throughput while events are written and delivered vs not: %.2f (%d events written, %d webhook messages received)",
		measured[1].rps()/measured[0].rps(), after-before, received.Load()))
	return nil
}

// eventWriters is how many mapping upserts run at once under the events
// scenario's reads.
const eventWriters = 2

// measureAudit compares the same GetIntegration on a second integrationsd that
// discards its audit events: the cost of recording every secret read.
func measureAudit(ctx context.Context, c config, audited *bench, t *table) error {
	with, without, err := sideBySide(ctx, c, audited, c.binary, "--dev-discard-audit")
	if err != nil {
		return err
	}
	t.row("GetIntegration, audited", c.inFlight, with)
	t.row("GetIntegration, audit discarded", c.inFlight, without)
	t.compare("throughput with audit vs without", with, without, throughput, ">=", 0.85)
	return nil
}

// measureBuilds compares the same GetIntegration on integrationsd built from
// other code (the previous commit, say): what a change to the server does,
// measured in the same rounds.
func measureBuilds(ctx context.Context, c config, this *bench, t *table) error {
	if c.compareWith == "" {
		return nil
	}
	ours, theirs, err := sideBySide(ctx, c, this, c.compareWith)
	if err != nil {
		return err
	}
	t.row("GetIntegration, this build", c.inFlight, ours)
	t.row("GetIntegration, -compare-with build", c.inFlight, theirs)
	t.note(fmt.Sprintf("this build (%s) against %s: GetIntegration throughput %.2f, integrationsd CPU per call %.2f", c.binary, c.compareWith,
		ours.rps()/theirs.rps(), ratio(ours.perCall(ours.serverCPU), theirs.perCall(theirs.serverCPU))))
	return nil
}

// sideBySide starts a second integrationsd from binary with args, seeds it as
// first is, and measures the same GetIntegration on both in alternating rounds.
func sideBySide(ctx context.Context, c config, first *bench, binary string, args ...string) (stats, stats, error) {
	d, err := startDaemon(ctx, binary, args...)
	if err != nil {
		return stats{}, stats{}, err
	}
	defer d.stop()
	second, err := newBench(ctx, d, c)
	if err != nil {
		return stats{}, stats{}, err
	}
	defer second.close()
	both := alternate(ctx, c.rounds, c.inFlight, c.round, first.get("Bench", benchOrg), second.get("Bench", benchOrg))
	return both[0], both[1], nil
}

// ratio is a over b; NaN when b is zero (not measured: CPU time where /proc
// cannot tell), which no target holds and every note shows as such.
func ratio[T time.Duration | float64](a, b T) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
