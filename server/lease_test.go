package server_test

import (
	"context"
	"testing"
	"time"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
)

// A replica that took a token's refresh lease and died holds the token for
// the rest of the lease. A read of the token, with every default (the
// lease, the provider's share of it, the server's cap on a call) and no
// deadline of its own, waits the lease out, refreshes the token itself, and
// is answered within the cap: also when the provider then takes longer than
// its share, when the answer is the old token marked REFRESH_FAILED.
func TestAReadWaitingOnADeadReplicasLeaseIsAnsweredWithinTheCallCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		delay      time.Duration // the provider's
		wantStatus integrationsv1.ConnectionStatus
		wantFresh  bool
	}{
		{"the provider answers at once", 0, integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED, true},
		{"the provider answers after its share (two thirds) of the lease", oauth.DefaultLeaseTTL * 3 / 4, integrationsv1.ConnectionStatus_CONNECTION_STATUS_REFRESH_FAILED, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newRefreshFixture(t, time.Hour, oauth.Options{})
			stale, _ := f.putIssued(t, "org-a", time.Now().Add(-time.Minute)) // expired: a read must refresh it
			ctx := context.Background()
			// The lease row as a replica that died right after taking it left it.
			taken, err := f.env.Store.AcquireLease(ctx, f.tokenID(t, "graph", "org-a"), "a replica that died", time.Now().Add(oauth.DefaultLeaseTTL))
			if err != nil || !taken {
				t.Fatalf("taking the lease: %v, %v", taken, err)
			}
			f.provider.SetDelay(tc.delay)
			start := time.Now()
			creds, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("a read waiting on a dead replica's lease got %v after %v; want an answer within the %v cap", err, took, server.MaxCallTime)
			}
			if took < oauth.DefaultLeaseTTL-time.Second {
				t.Fatalf("answered after %v: the read did not wait for the dead replica's lease of %v", took, oauth.DefaultLeaseTTL)
			}
			fresh := creds.GetAccessToken() != stale && f.provider.Valid(creds.GetAccessToken())
			if creds.GetStatus() != tc.wantStatus || fresh != tc.wantFresh {
				t.Fatalf("after %v: status %v, a new token %v; want %v, new %v", took, creds.GetStatus(), fresh, tc.wantStatus, tc.wantFresh)
			}
			t.Logf("answered after %v of the %v cap", took.Round(time.Millisecond), server.MaxCallTime)
		})
	}
}
