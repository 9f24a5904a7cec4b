package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
)

// The refresh-ahead scenario: tokens for many organizations on several
// connections, each connection at its own provider that takes its time, all
// put by hand (an import) to expire at one moment: the top of the hour,
// brought closer. The background refresher of an integrationsd of its own,
// with its per-connection concurrency set, must renew each before it enters
// its margin, so that no read waits on a provider.
const (
	aheadConnections = 10
	aheadMargin      = 30 * time.Second
	aheadProvider    = 200 * time.Millisecond
)

// measureRefreshAhead seeds c.aheadTokens tokens over aheadConnections
// connections, all expiring c.aheadLifetime after seeding began, reads them
// at random until every token has had to be renewed, and reports the tokens
// never renewed, the reads that waited on a provider, how long tokens spent
// inside their margin before the refresher renewed them, and the most
// refreshes one connection's provider answered at once.
func measureRefreshAhead(ctx context.Context, c config, t *table) error {
	d, err := startDaemon(ctx, c.binary, "--refresh-concurrency", strconv.Itoa(c.aheadConcurrency))
	if err != nil {
		return err
	}
	defer d.stop()
	b, err := dial(ctx, d, c)
	if err != nil {
		return err
	}
	defer b.close()
	providers := make([]*oauthtest.Provider, aheadConnections)
	for k := range providers {
		p := oauthtest.Start(c.aheadLifetime)
		defer p.Close()
		p.SetDelay(aheadProvider)
		providers[k] = p
		name := fmt.Sprintf("ahead-%d", k)
		if _, err := b.admin.CreateConnection(b.auth, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
			Name: name, Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
			AuthorizationUrl: p.Server.URL + "/authorize", TokenUrl: p.TokenURL(), RefreshMargin: durationpb.New(aheadMargin),
		}}); err != nil {
			return fmt.Errorf("seeding connection %s: %w", name, err)
		}
		if _, err := b.admin.CreateIntegration(b.auth, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
			Name: fmt.Sprintf("Ahead-%d", k), OauthConnection: name, DefaultEntityId: name,
		}}); err != nil {
			return fmt.Errorf("seeding integration Ahead-%d: %w", k, err)
		}
	}
	orgs := max(1, c.aheadTokens/aheadConnections)
	tokens := orgs * aheadConnections
	seedingBegan := time.Now()
	expiry := seedingBegan.Add(c.aheadLifetime)
	seeded := count(d, c.inFlight, tokens, func(i int) error {
		k := i % aheadConnections
		access, refresh := providers[k].IssueUntil(fmt.Sprint("ahead-", i), expiry)
		_, err := b.admin.PutToken(b.auth, &adminv1.PutTokenRequest{Connection: fmt.Sprintf("ahead-%d", k), OrgId: orgID(i / aheadConnections),
			AccessToken: access, RefreshToken: refresh, ExpiresAt: timestamppb.New(expiry)})
		return err
	})
	if seeded.errors > 0 {
		return fmt.Errorf("%d of %d tokens could not be put", seeded.errors, seeded.calls)
	}
	waitedBefore, err := b.readsWaited()
	if err != nil {
		return err
	}
	// Every token enters its margin by expiry less the margin; a few seconds
	// more let the last renewals land.
	readsDone := expiry.Add(-aheadMargin + 2*time.Second)
	var reads atomic.Int64
	s := measure(d, c.inFlight, func() (int, bool) { return int(reads.Add(1)), time.Now().Before(readsDone) }, func(int) error {
		req := &integrationsv1.GetIntegrationRequest{Name: fmt.Sprintf("Ahead-%d", rand.IntN(aheadConnections)), OrgId: orgID(rand.IntN(orgs))}
		_, err := b.api.GetIntegration(b.auth, req)
		return err
	})
	waitedAfter, err := b.readsWaited()
	if err != nil {
		return err
	}
	notStored, err := b.tokensNotRenewedBy(expiry)
	if err != nil {
		return err
	}
	var lags []time.Duration
	renewed, mostAtOnce := 0, 0
	for _, p := range providers {
		for _, left := range p.LeftAtRefresh() {
			lags = append(lags, max(0, aheadMargin-left))
		}
		renewed += p.RefreshedLineages()
		mostAtOnce = max(mostAtOnce, p.MostAtOnce())
	}
	slices.Sort(lags)
	lag := time.Duration(0)
	if len(lags) > 0 {
		lag = lags[min(len(lags)-1, len(lags)*99/100)]
	}
	rss, err := d.peakRSS()
	if err != nil {
		return err
	}
	t.row(fmt.Sprintf("PutToken (seeding %d tokens)", tokens), c.inFlight, seeded)
	t.row(fmt.Sprintf("GetIntegration, %d tokens renewed ahead", tokens), c.inFlight, s)
	t.note(fmt.Sprintf("refresh-ahead: %d tokens (%d organizations × %d connections, a provider each answering in %s) put expiring together in %s, margin %s, --refresh-concurrency %d: %d refreshes in %s; that integrationsd's peak resident memory %.0f MB",
		tokens, orgs, aheadConnections, aheadProvider, c.aheadLifetime, aheadMargin, c.aheadConcurrency, len(lags), time.Since(seedingBegan).Round(time.Second), float64(rss)/(1<<20)))
	t.target("refresh-ahead: tokens never renewed", float64(tokens-renewed), "<=", 0, "")
	t.target("refresh-ahead: tokens not stored renewed and connected", float64(notStored), "<=", 0, "")
	t.target("refresh-ahead: reads that waited on a provider", waitedAfter-waitedBefore, "<=", 0, "")
	t.target("refresh-ahead: lag inside the margin p99 (s)", lag.Seconds(), "<=", 1, "")
	t.target("refresh-ahead: most refreshes at once at one connection's provider", float64(mostAtOnce), "<=", float64(c.aheadConcurrency), "")
	return nil
}

// tokensNotRenewedBy counts, through the admin API, the tokens of the
// ahead connections that are not CONNECTED or still expire by seeded: what
// the provider renewed but integrationsd did not keep.
func (b *bench) tokensNotRenewedBy(seeded time.Time) (int, error) {
	n := 0
	for k := range aheadConnections {
		req := &adminv1.ListTokensRequest{Connection: fmt.Sprintf("ahead-%d", k), PageSize: 1000}
		for {
			page, err := b.admin.ListTokens(b.auth, req)
			if err != nil {
				return 0, fmt.Errorf("listing the tokens of %s: %w", req.Connection, err)
			}
			for _, tok := range page.GetTokens() {
				if tok.GetStatus() != adminv1.TokenStatus_TOKEN_STATUS_CONNECTED || !tok.GetExpiresAt().AsTime().After(seeded) {
					n++
				}
			}
			if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
	}
	return n, nil
}

// readsWaited reads bifrost_token_reads_waited_total from integrationsd's
// /metrics.
func (b *bench) readsWaited() (float64, error) {
	resp, err := http.Get("http://" + b.daemon.httpAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "bifrost_token_reads_waited_total "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("integrationsd's /metrics has no bifrost_token_reads_waited_total")
}
