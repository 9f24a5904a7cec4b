package clienttest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/client"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// startWithToken starts a service whose Microsoft_Graph integration uses a
// provider issuing one-hour tokens, and gives org-a a token of that provider
// expiring at expiresAt; it returns the access token.
func startWithToken(t *testing.T, expiresAt time.Time) (*testutil.Env, *oauthtest.Provider, string) {
	t.Helper()
	return startWithTokenOf(t, time.Hour, expiresAt)
}

// startWithTokenOf is startWithToken at a provider whose tokens live lifetime.
func startWithTokenOf(t *testing.T, lifetime time.Duration, expiresAt time.Time) (*testutil.Env, *oauthtest.Provider, string) {
	t.Helper()
	p := oauthtest.New(t, lifetime)
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
		ExpiresAt: timestamppb.New(expiresAt)}); err != nil {
		t.Fatal(err)
	}
	return env, p, access
}

func TestHTTPClientSendsAFreshTokenWithoutRefreshLogicOfItsOwn(t *testing.T) {
	t.Parallel()
	env, p, _ := startWithToken(t, time.Now().Add(-time.Minute))
	ctx := context.Background()
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

// A provider's 50-second token comes with less than the minute before expiry at
// which the token source asks again; the service refreshes it only at half its
// life. The source reuses it until then instead of asking the service, to be
// handed the same token, on every request.
func TestTokenSourceReusesAShortLivedTokenUntilTheServiceWouldRefreshIt(t *testing.T) {
	t.Parallel()
	env, p, _ := startWithTokenOf(t, 50*time.Second, time.Now().Add(-time.Minute))
	var gets atomic.Int32
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/GetIntegration") {
			gets.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	c := newClient(t, env, env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"), client.WithDialOptions(count))
	ts := c.TokenSource(context.Background(), "Microsoft_Graph")
	first, err := ts.Token()
	if err != nil || !p.Valid(first.AccessToken) {
		t.Fatalf("first token: %v, %v", first, err)
	}
	for range 5 {
		tok, err := ts.Token()
		if err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("token: %v, %v; want the first one again", tok, err)
		}
	}
	if n := gets.Load(); n != 1 {
		t.Fatalf("6 tokens took %d calls to the service, want 1", n)
	}
}

// ForceRefresh and MinValidity reach the service: a forced read refreshes a
// fresh token, a validity the token has needs no refresh, and one no token of
// this provider can have is refused with FAILED_PRECONDITION.
func TestGetForceRefreshAndMinValidity(t *testing.T) {
	t.Parallel()
	env, p, first := startWithToken(t, time.Now().Add(time.Hour))
	ctx := context.Background()
	c := newClient(t, env, env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	accessToken := func(opts ...client.CallOption) string {
		t.Helper()
		data, err := c.Get(ctx, "Microsoft_Graph", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return data.OAuth.AccessToken
	}
	if got := accessToken(); got != first || p.Calls("refresh_token") != 0 {
		t.Fatalf("plain read: a new token or a refresh (%d) for a fresh token", p.Calls("refresh_token"))
	}
	forced := accessToken(client.ForceRefresh())
	if forced == first || !p.Valid(forced) || p.Calls("refresh_token") != 1 {
		t.Fatalf("forced read: same token %v, valid %v, %d refreshes; want a new valid token from one refresh",
			forced == first, p.Valid(forced), p.Calls("refresh_token"))
	}
	if got := accessToken(client.MinValidity(30 * time.Minute)); got != forced || p.Calls("refresh_token") != 1 {
		t.Fatalf("30m asked of a 1h token: new token %v, %d refreshes; want neither", got != forced, p.Calls("refresh_token"))
	}
	_, err := c.Get(ctx, "Microsoft_Graph", client.MinValidity(2*time.Hour))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("2h asked of a provider issuing 1h tokens: %v, want FAILED_PRECONDITION", err)
	}
}
