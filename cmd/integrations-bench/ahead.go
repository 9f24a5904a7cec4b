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

// The refresh-ahead scenario: many tokens on several connections, all put to
// expire at one moment (the top of the hour, shortened), at a provider that
// takes its time. The background refresher must renew each before it enters
// its margin, so that no read waits on the provider.
const (
	aheadConnections = 10
	aheadLifetime    = 90 * time.Second
	aheadMargin      = 20 * time.Second
	aheadProvider    = 200 * time.Millisecond
)

// measureRefreshAhead seeds c.aheadTokens tokens over aheadConnections
// connections, reads them at random for c.aheadDuration, and reports the
// reads that waited on a provider and how long tokens spent inside their
// margin before the refresher renewed them.
func measureRefreshAhead(ctx context.Context, c config, b *bench, t *table) error {
	p := oauthtest.Start(aheadLifetime)
	defer p.Close()
	p.SetDelay(aheadProvider)
	orgs := max(1, c.aheadTokens/aheadConnections)
	for k := range aheadConnections {
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
	expiry := time.Now().Add(aheadLifetime)
	seeded := count(b.daemon, c.inFlight, orgs*aheadConnections, func(i int) error {
		access, refresh := p.IssueUntil(fmt.Sprint("ahead-", i), expiry)
		_, err := b.admin.PutToken(b.auth, &adminv1.PutTokenRequest{Connection: fmt.Sprintf("ahead-%d", i%aheadConnections), OrgId: orgID(i / aheadConnections),
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
	var reads atomic.Int64
	readsDone := time.Now().Add(c.aheadDuration)
	s := measure(b.daemon, c.inFlight, func() (int, bool) { return int(reads.Add(1)), time.Now().Before(readsDone) }, func(int) error {
		req := &integrationsv1.GetIntegrationRequest{Name: fmt.Sprintf("Ahead-%d", rand.IntN(aheadConnections)), OrgId: orgID(rand.IntN(orgs))}
		_, err := b.api.GetIntegration(b.auth, req)
		return err
	})
	waitedAfter, err := b.readsWaited()
	if err != nil {
		return err
	}
	var lags []time.Duration
	for _, left := range p.LeftAtRefresh() {
		lags = append(lags, max(0, aheadMargin-left))
	}
	slices.Sort(lags)
	lag := time.Duration(0)
	if len(lags) > 0 {
		lag = lags[min(len(lags)-1, len(lags)*99/100)]
	}
	t.row(fmt.Sprintf("GetIntegration, %d tokens renewed ahead", orgs*aheadConnections), c.inFlight, s)
	t.note(fmt.Sprintf("refresh-ahead: %d tokens on %d connections, all expiring at once every %s, provider %s: %d refreshes in %s",
		orgs*aheadConnections, aheadConnections, aheadLifetime, aheadProvider, len(lags), c.aheadDuration))
	t.target("refresh-ahead: tokens never renewed", float64(orgs*aheadConnections-p.RefreshedLineages()), "<=", 0, "")
	t.target("refresh-ahead: reads that waited on a provider", waitedAfter-waitedBefore, "<=", 0, "")
	t.target("refresh-ahead: lag inside the margin p99 (s)", lag.Seconds(), "<=", 1, "")
	return nil
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
