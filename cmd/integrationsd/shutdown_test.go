package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
)

// SIGTERM while the provider is answering a refresh: the answer, with the
// refresh token the provider rotated, is stored before the process ends,
// even though the read that asked for it gave up. The next process serves
// that token; had it been lost, the old refresh token would be refused
// (rotation) and the account need connecting again.
func TestShutdownStoresARefreshTheProviderAnswersAfterTheSignal(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	dir, db := t.TempDir(), testdb.Database(t)
	d, stop := runDaemon(t, noEnv, dir, "--db", db)
	conn, ctx := dialAsAdmin(t, d, dir)
	admin := adminv1.NewAdminServiceClient(conn)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
		AuthorizationUrl: p.AuthorizeURL(), TokenUrl: p.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	access, refresh := p.Issue()
	if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: "org-a", AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}

	p.SetDelay(2 * time.Second)
	readCtx, giveUp := context.WithCancel(ctx)
	read := make(chan error, 1)
	go func() {
		_, err := integrationsv1.NewIntegrationsServiceClient(conn).GetIntegration(readCtx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		read <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if p.Arrived() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // the signal
	giveUp()
	<-read
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := p.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider saw %d refreshes, want 1", n)
	}

	p.SetDelay(0)
	d, _ = runDaemon(t, noEnv, dir, "--db", db)
	conn, ctx = dialAsAdmin(t, d, dir)
	resp, err := integrationsv1.NewIntegrationsServiceClient(conn).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetIntegration().GetOauth()
	if o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED || o.GetAccessToken() == access || !p.Valid(o.GetAccessToken()) {
		t.Fatalf("after the restart: %v; want the token the provider answered after the signal", o.GetStatus())
	}
	if n := p.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider saw %d refreshes after the restart, want still 1: the answer was not stored", n)
	}
}
