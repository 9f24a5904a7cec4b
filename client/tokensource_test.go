package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

func TestHTTPClientSendsAFreshTokenWithoutRefreshLogicOfItsOwn(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
		AuthorizationUrl: p.Server.URL + "/authorize", TokenUrl: p.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Microsoft_Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	access, refresh := p.Issue()
	if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: "org-a", AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	var requests, valid atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && p.Valid(tok) {
			valid.Add(1)
		}
	}))
	defer api.Close()

	c := newClient(t, env, env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	hc := c.HTTPClient(ctx, "Microsoft_Graph")
	for range 3 {
		resp, err := hc.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if requests.Load() != 3 || valid.Load() != 3 {
		t.Fatalf("%d of %d requests carried a valid token", valid.Load(), requests.Load())
	}
	if n := p.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider refreshes = %d, want 1 (the service refreshed the expired token once)", n)
	}
	if _, err := c.TokenSource(ctx, "Nope").Token(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("token of an unknown integration: %v", err)
	}
}
