package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
)

// SIGTERM while a person's /oauth/callback is exchanging the code with the
// provider: the callback finishes, stores the token and shows success
// before the database closes.
func TestAnOAuthCallbackInFlightAtShutdownStoresItsToken(t *testing.T) {
	t.Parallel()
	provider := oauthtest.New(t, time.Hour)
	dir := t.TempDir()
	d, stop := runDaemon(t, noEnv, dir)
	conn, ctx := dialAsAdmin(t, d, dir)
	admin := adminv1.NewAdminServiceClient(conn)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: provider.ClientID, ClientSecret: provider.ClientSecret,
		AuthorizationUrl: provider.AuthorizeURL(), TokenUrl: provider.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	started, err := admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	authURL, _ := url.Parse(started.GetAuthorizationUrl())
	back, err := provider.Decide(authURL, "approve")
	if err != nil {
		t.Fatalf("decision: %v", err)
	}
	provider.SetDelay(2500 * time.Millisecond)
	page := make(chan string, 1)
	go func() {
		resp, err := http.Get(back)
		if err != nil {
			page <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page <- resp.Status + " " + string(b)
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if provider.Arrived() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if p := <-page; !strings.HasPrefix(p, "200") {
		t.Fatalf("the browser got %.200s", p)
	}
	provider.SetDelay(0)
	d, _ = runDaemon(t, noEnv, dir)
	conn, ctx = dialAsAdmin(t, d, dir)
	toks, err := adminv1.NewAdminServiceClient(conn).ListTokens(ctx, &adminv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks.GetTokens()) != 1 || provider.Calls("authorization_code") != 1 {
		t.Fatalf("%d tokens stored after %d code exchanges, want the one the provider answered", len(toks.GetTokens()), provider.Calls("authorization_code"))
	}
}
