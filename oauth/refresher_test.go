package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/oauth/schedule"
	"github.com/bifrost/integrations/store"
)

// replicas opens n stores on one database file, each with its own Refresher:
// n processes sharing a database, as far as leases and versions can tell.
func replicas(t *testing.T, p *oauthtest.Provider, n int, opts Options) ([]*store.Store, []*Refresher) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bifrost.db")
	key, err := keyring.NewKey(1)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(1, []keyring.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	var stores []*store.Store
	var refreshers []*Refresher
	for range n {
		st, err := store.OpenSQLite(context.Background(), path, ring)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		o := opts
		o.HTTPClient = p.Server.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		stores = append(stores, st)
		refreshers = append(refreshers, New(st, o))
	}
	return stores, refreshers
}

func seedToken(t *testing.T, st *store.Store, p *oauthtest.Provider, expiresAt time.Time) (store.Token, store.Connection) {
	t.Helper()
	ctx := context.Background()
	conn, err := st.CreateConnection(ctx, store.Connection{Name: "graph", Flow: store.FlowAuthorizationCode, RefreshMargin: schedule.DefaultMargin,
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, TokenURL: p.TokenURL()})
	if err != nil {
		t.Fatal(err)
	}
	access, refresh := p.Issue()
	tok, err := st.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-a", AccessToken: access, RefreshToken: refresh, ExpiresAt: &expiresAt})
	if err != nil {
		t.Fatal(err)
	}
	return tok, conn
}

func TestReplicasRefreshOneTokenExactlyOnce(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	p.SetDelay(100 * time.Millisecond)
	stores, refreshers := replicas(t, p, 3, Options{PollInterval: 10 * time.Millisecond})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	const callers = 90
	got := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			fresh, err := refreshers[i%3].Ensure(context.Background(), &tok, &conn, Need{})
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
			got[i] = fresh.AccessToken
		})
	}
	wg.Wait()
	if n := p.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider saw %d refreshes from 3 replicas, want 1", n)
	}
	for i := range callers {
		if got[i] != got[0] || !p.Valid(got[i]) {
			t.Fatalf("caller %d got %q, caller 0 %q", i, got[i], got[0])
		}
	}
	if p.InvalidGrants() != 0 {
		t.Fatal("invalid_grant during a coalesced refresh")
	}
}

func TestRefreshKilledBeforeWriteLeavesRowIntactAndLeaseExpires(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	p.SetRotation(false)
	killed := errors.New("process killed")
	stores, refreshers := replicas(t, p, 2, Options{LeaseTTL: 300 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	refreshers[0].opts.afterExchange = func(context.Context) error { return killed }
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	ctx := context.Background()

	if _, err := refreshers[0].Ensure(ctx, &tok, &conn, Need{}); !errors.Is(err, killed) {
		t.Fatalf("dying refresh: %v", err)
	}
	after, err := stores[1].TokenWithSecrets(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != tok.Version || after.AccessToken != tok.AccessToken || after.RefreshToken != tok.RefreshToken || !after.ExpiresAt.Equal(*tok.ExpiresAt) {
		t.Fatalf("row changed by a refresh that died before its write: %+v", after)
	}
	// The dead process's lease holds the other replica off until it expires.
	start := time.Now()
	fresh, err := refreshers[1].Ensure(ctx, &tok, &conn, Need{})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("the second replica did not wait for the lease (%s)", waited)
	}
	if fresh.Version != tok.Version+1 || !p.Valid(fresh.AccessToken) || fresh.Status != store.TokenConnected {
		t.Fatalf("takeover refresh: %+v", fresh)
	}
	if n := p.Calls("refresh_token"); n != 2 {
		t.Fatalf("provider calls = %d, want 2 (the lost one and the takeover)", n)
	}
}

func TestNewTokenPutDuringRefreshWins(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	stores, refreshers := replicas(t, p, 1, Options{})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	ctx := context.Background()
	var put store.Token
	refreshers[0].opts.afterExchange = func(context.Context) error {
		access, refresh := p.Issue()
		var err error
		put, err = stores[0].PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-a", AccessToken: access, RefreshToken: refresh})
		return err
	}
	got, err := refreshers[0].Ensure(ctx, &tok, &conn, Need{})
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != put.AccessToken || got.Version != put.Version {
		t.Fatalf("the refresh overwrote a token put meanwhile: got %+v, put %+v", got, put)
	}
}

// A token the provider issued already expired (its answer took longer than
// the lifetime it gave) has a known lifetime of nothing. A read that demands no
// validity refreshes it; only min_validity may be refused for the lifetime.
func TestPlainReadOfATokenIssuedExpiredRefreshesIt(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	stores, refreshers := replicas(t, p, 1, Options{})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	issued := time.Now()
	tok.IssuedAt = &issued
	got, err := refreshers[0].Ensure(context.Background(), &tok, &conn, Need{})
	if err != nil || got.AccessToken == tok.AccessToken || !p.Valid(got.AccessToken) {
		t.Fatalf("plain read of a token issued expired: %v, %v; want it refreshed", got.AccessToken, err)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	r := New(nil, Options{BackoffBase: time.Second, BackoffMax: 10 * time.Second})
	cases := []struct {
		failures int
		min, max time.Duration
	}{
		{0, time.Second, 1200 * time.Millisecond},
		{1, 2 * time.Second, 2400 * time.Millisecond},
		{3, 8 * time.Second, 9600 * time.Millisecond},
		{10, 10 * time.Second, 12 * time.Second},
	}
	for _, tc := range cases {
		for range 20 {
			if d := r.backoff(tc.failures); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.failures, d, tc.min, tc.max)
			}
		}
	}
}

func TestEveryRefreshOutcomeIsExportedAtZeroBeforeAnyRefresh(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	replicas(t, oauthtest.New(t, time.Hour), 1, Options{Metrics: reg})
	want := strings.NewReader(`# HELP bifrost_token_refreshes_total Token exchanges with providers, by outcome (ok, refresh_failed, needs_reauth, error).
# TYPE bifrost_token_refreshes_total counter
bifrost_token_refreshes_total{outcome="error"} 0
bifrost_token_refreshes_total{outcome="needs_reauth"} 0
bifrost_token_refreshes_total{outcome="ok"} 0
bifrost_token_refreshes_total{outcome="refresh_failed"} 0
`)
	if err := promtest.GatherAndCompare(reg, want, "bifrost_token_refreshes_total"); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshesAreCountedByOutcome(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	reg := prometheus.NewRegistry()
	stores, refreshers := replicas(t, p, 1, Options{Metrics: reg})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	ctx := context.Background()
	fresh, err := refreshers[0].Ensure(ctx, &tok, &conn, Need{})
	if err != nil {
		t.Fatal(err)
	}
	p.RevokeGrants()
	if _, err := refreshers[0].Ensure(ctx, fresh, &conn, Need{Force: true}); err == nil {
		t.Fatal("refresh of a revoked grant succeeded")
	}
	for outcome, want := range map[string]float64{"ok": 1, "needs_reauth": 1} {
		if got := promtest.ToFloat64(refreshers[0].refreshes.WithLabelValues(outcome)); got != want {
			t.Errorf("refreshes{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// A provider that takes longer than its share of the lease is given up on
// while the lease still holds: the failure is recorded and the lease
// released before it could run out, so no other replica calls the provider
// for the token while this one still might get (and then lose) its answer.
func TestAProviderSlowerThanItsShareOfTheLeaseIsGivenUpOnWhileTheLeaseHolds(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	const lease = 600 * time.Millisecond
	p.SetDelay(2 * lease)
	stores, refreshers := replicas(t, p, 2, Options{LeaseTTL: lease, PollInterval: 10 * time.Millisecond})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	ctx := context.Background()
	start := time.Now()
	got, err := refreshers[0].Ensure(ctx, &tok, &conn, Need{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took >= lease {
		t.Fatalf("the refresh took %v, as long as its lease (%v): the provider was not given up on in time", took, lease)
	}
	if got.Status != store.TokenRefreshFailed || !strings.Contains(got.LastError, "did not answer in time") {
		t.Fatalf("token after a provider too slow to answer: status %q, %q", got.Status, got.LastError)
	}
	acquired, err := stores[1].AcquireLease(ctx, tok.ID, "another replica", time.Now().Add(lease))
	if err != nil || !acquired {
		t.Fatalf("the lease was not released with the failure: %v, %v", acquired, err)
	}
}

// A draining refresher calls no provider and leaves the token's lease free
// for another replica, which refreshes it.
func TestADrainingReplicaStartsNoRefreshAndLeavesItToAnother(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	stores, refreshers := replicas(t, p, 2, Options{PollInterval: 10 * time.Millisecond})
	tok, conn := seedToken(t, stores[0], p, time.Now().Add(-time.Minute))
	ctx := context.Background()
	if err := refreshers[0].Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := refreshers[0].Ensure(ctx, &tok, &conn, Need{}); !errors.Is(err, ErrDraining) {
		t.Fatalf("Ensure on a draining replica: %v, want ErrDraining", err)
	}
	if n := p.Calls("refresh_token"); n != 0 {
		t.Fatalf("a draining replica called the provider %d times", n)
	}
	fresh, err := refreshers[1].Ensure(ctx, &tok, &conn, Need{})
	if err != nil || !p.Valid(fresh.AccessToken) || p.Calls("refresh_token") != 1 {
		t.Fatalf("the other replica: %v, %v; want it to refresh at once", fresh, err)
	}
}

// The background refresher sends one connection's provider at most
// ConnectionConcurrency refreshes at once, and renews every due token.
func TestBackgroundRefreshesStayWithinTheConnectionsConcurrency(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	p.SetDelay(50 * time.Millisecond)
	stores, refreshers := replicas(t, p, 1, Options{Interval: 20 * time.Millisecond, ConnectionConcurrency: 2})
	st, r := stores[0], refreshers[0]
	ctx := context.Background()
	if _, err := st.CreateConnection(ctx, store.Connection{Name: "graph", Flow: store.FlowAuthorizationCode, RefreshMargin: schedule.DefaultMargin,
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, TokenURL: p.TokenURL()}); err != nil {
		t.Fatal(err)
	}
	const tokens = 12
	expired := time.Now().Add(-time.Minute)
	for i := range tokens {
		access, refresh := p.Issue()
		if _, err := st.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: fmt.Sprintf("org-%d", i), AccessToken: access, RefreshToken: refresh, ExpiresAt: &expired}); err != nil {
			t.Fatal(err)
		}
	}
	running, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(running) }()
	defer func() { stop(); <-done }()
	// (testutil.Eventually imports this package.)
	for deadline := time.Now().Add(10 * time.Second); p.Calls("refresh_token") < tokens; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tokens renewed", p.Calls("refresh_token"), tokens)
		}
	}
	if most := p.MostAtOnce(); most > 2 {
		t.Fatalf("the provider answered %d refreshes at once, over the connection's 2", most)
	}
	if n := p.Calls("refresh_token"); n != tokens {
		t.Fatalf("%d refreshes for %d tokens", n, tokens)
	}
}

// One slow provider's backlog of due tokens neither holds the refresher's
// places nor hides another connection's due tokens from its list.
func TestASlowProvidersBacklogDoesNotDelayAnotherConnection(t *testing.T) {
	t.Parallel()
	slow := oauthtest.New(t, time.Hour)
	slow.SetDelay(2 * time.Second)
	fast := oauthtest.New(t, time.Hour)
	stores, refreshers := replicas(t, slow, 1, Options{Interval: 20 * time.Millisecond, Concurrency: 2, ConnectionConcurrency: 1})
	st, r := stores[0], refreshers[0]
	ctx := context.Background()
	for _, c := range []struct {
		name string
		p    *oauthtest.Provider
	}{{"slow", slow}, {"fast", fast}} {
		if _, err := st.CreateConnection(ctx, store.Connection{Name: c.name, Flow: store.FlowAuthorizationCode, RefreshMargin: schedule.DefaultMargin,
			ClientID: c.p.ClientID, ClientSecret: c.p.ClientSecret, TokenURL: c.p.TokenURL()}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(conn string, p *oauthtest.Provider, n int, expires time.Time) {
		for i := range n {
			access, refresh := p.Issue()
			if _, err := st.PutToken(ctx, store.Token{ConnectionName: conn, OrgID: fmt.Sprintf("%s-%d", conn, i), AccessToken: access, RefreshToken: refresh, ExpiresAt: &expires}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("slow", slow, 12, time.Now().Add(-time.Minute))                         // expired: due, and listed first
	put("fast", fast, 2, time.Now().Add(schedule.DefaultMargin+10*time.Second)) // due within Ahead, listed after them
	running, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(running) }()
	defer func() { stop(); <-done }()
	start := time.Now()
	for fast.Calls("refresh_token") < 2 {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("fast connection never refreshed; slow answered %d", slow.Calls("refresh_token"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the fast connection's tokens waited %s behind the slow provider's backlog", took.Round(100*time.Millisecond))
	}
}

// Replicas list the same due tokens; one whose refresh waited for a slot
// while another replica renewed the token does not renew it again.
func TestReplicasRenewEachDueTokenOnce(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	p.SetDelay(100 * time.Millisecond)
	stores, refreshers := replicas(t, p, 3, Options{Interval: 20 * time.Millisecond, ConnectionConcurrency: 2})
	st := stores[0]
	ctx := context.Background()
	if _, err := st.CreateConnection(ctx, store.Connection{Name: "graph", Flow: store.FlowAuthorizationCode, RefreshMargin: schedule.DefaultMargin,
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, TokenURL: p.TokenURL()}); err != nil {
		t.Fatal(err)
	}
	const tokens = 30
	soon := time.Now().Add(5*time.Minute + 10*time.Second) // due within Ahead, not yet in the margin
	for i := range tokens {
		access, refresh := p.Issue()
		if _, err := st.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: fmt.Sprintf("org-%d", i), AccessToken: access, RefreshToken: refresh, ExpiresAt: &soon}); err != nil {
			t.Fatal(err)
		}
	}
	running, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range refreshers {
		wg.Go(func() { r.Run(running) })
	}
	for deadline := time.Now().Add(20 * time.Second); p.Calls("refresh_token") < tokens && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	// A deliberate pause: a second renewal would come within it.
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	if n := p.Calls("refresh_token"); n != tokens {
		t.Errorf("%d refreshes for %d due tokens", n, tokens)
	}
}
