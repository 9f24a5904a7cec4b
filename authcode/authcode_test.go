package authcode_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/bifrost/integrations/authcode"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/store"
)

type fixture struct {
	env      *testutil.Env
	provider *oauthtest.Provider
	admin    adminv1.AdminServiceClient
	api      integrationsv1.IntegrationsServiceClient
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureIssuing(t, time.Hour)
}

// newFixtureIssuing is newFixture at a provider whose tokens live lifetime.
func newFixtureIssuing(t *testing.T, lifetime time.Duration) *fixture {
	t.Helper()
	p := oauthtest.New(t, lifetime)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	f := &fixture{env: env, provider: p, admin: env.Admin(t), api: env.Integrations(t, env.AdminKey)}
	ctx := context.Background()
	if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
		AuthorizationUrl: p.AuthorizeURL(), TokenUrl: p.TokenURL(), Scopes: []string{"User.Read", "offline_access"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) start(t *testing.T, org string) *url.URL {
	t.Helper()
	resp, err := f.admin.StartAuthorization(context.Background(), &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: org, MappingIntegration: "Graph"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(resp.GetAuthorizationUrl())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// consent plays the user at the provider's consent page and returns where the
// provider sends the browser back to.
func (f *fixture) consent(t *testing.T, authURL *url.URL, decision string) string {
	t.Helper()
	page, err := http.Get(authURL.String())
	if err != nil || page.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %v, %v", page, err)
	}
	page.Body.Close()
	back, err := f.provider.Decide(authURL, decision)
	if err != nil {
		t.Fatalf("decision: %v", err)
	}
	return back
}

func get(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestAuthorizationURLCarriesStateAndPKCEAndNoSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.start(t, "org-a")
	q := u.Query()
	if q.Get("state") == "" || len(q.Get("state")) < 40 || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("response_type") != "code" || q.Get("client_id") != f.provider.ClientID ||
		q.Get("redirect_uri") != f.env.CallbackURL+authcode.CallbackPath || q.Get("scope") != "User.Read offline_access" {
		t.Fatalf("authorization URL %s", u)
	}
	if strings.Contains(u.String(), f.provider.ClientSecret) || q.Has("code_verifier") {
		t.Fatalf("authorization URL carries a secret: %s", u)
	}
}

func TestConnectStoresTheTokenAndLinksTheMapping(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	back := f.consent(t, f.start(t, "org-a"), "approve")
	status, page := get(t, back)
	if status != http.StatusOK || !strings.Contains(page, "Connected") || !strings.Contains(page, "graph") || !strings.Contains(page, "org-a") {
		t.Fatalf("callback page %d: %s", status, page)
	}
	for _, secret := range f.provider.Issued() {
		if strings.Contains(page, secret) {
			t.Fatal("the callback page shows a token")
		}
	}
	ctx := context.Background()
	resp, err := f.api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetIntegration().GetOauth()
	if !f.provider.Valid(o.GetAccessToken()) || o.GetRefreshToken() == "" || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED {
		t.Fatalf("token after connect: %v", o)
	}
	m, err := f.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || m.GetMapping().GetOauthTokenId() == "" {
		t.Fatalf("mapping not linked to the token: %v, %v", m, err)
	}
	// The same callback again: the state is single-use, and so is the code. The
	// refusal is in the organization's audit trail.
	if status, page := get(t, back); status != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Fatalf("reused state: %d %s", status, page)
	}
	e := f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a"}, func(e *adminv1.AuditEvent) bool {
		return e.GetMethod() == "oauth/callback" && e.GetOutcome() == "DENIED"
	})
	if !strings.Contains(e.GetDetail(), "already used") || e.GetIntegration() != "Graph" {
		t.Fatalf("audit event of the reused link: %v", e)
	}
}

// The code exchange tells when the provider issued the token: one that lives
// less than the 5-minute margin is refreshed at half its life, not at once.
func TestConnectedTokenOfAShortLivedProviderIsRefreshedAtHalfLife(t *testing.T) {
	t.Parallel()
	f := newFixtureIssuing(t, 4*time.Minute)
	if status, page := get(t, f.consent(t, f.start(t, "org-a"), "approve")); status != http.StatusOK {
		t.Fatalf("callback page %d: %s", status, page)
	}
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil || len(tokens.GetTokens()) != 1 {
		t.Fatalf("tokens after connect: %v, %v", tokens, err)
	}
	tok := tokens.GetTokens()[0]
	if margin := tok.GetExpiresAt().AsTime().Sub(tok.GetNextRefreshAt().AsTime()); margin < 119*time.Second || margin > 2*time.Minute+24*time.Second {
		t.Fatalf("next refresh %s before expiry, want half the 4-minute lifetime and up to a tenth of it of spread", margin)
	}
	if _, err := f.api.GetIntegration(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	if n := f.provider.Calls("refresh_token"); n != 0 {
		t.Fatalf("a read of the token just connected refreshed it %d times", n)
	}
}

func TestCallbackHasARequestIDInItsAnswerAndAuditEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req, err := http.NewRequest(http.MethodGet, f.consent(t, f.start(t, "org-a"), "approve"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "callback-req-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != "callback-req-1" {
		t.Fatalf("callback answered %d with X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if id := f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a"}, testutil.AuditMethod("oauth/callback")).GetRequestId(); id != "callback-req-1" {
		t.Fatalf("callback audit event has request ID %q", id)
	}
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		url    func(t *testing.T) string
		status int
		says   string
	}{
		{"no state", func(*testing.T) string { return f.env.CallbackURL + authcode.CallbackPath + "?code=x" }, http.StatusBadRequest, "no state"},
		{"tampered state", func(t *testing.T) string {
			back, _ := url.Parse(f.consent(t, f.start(t, "org-a"), "approve"))
			q := back.Query()
			q.Set("state", q.Get("state")+"x")
			back.RawQuery = q.Encode()
			return back.String()
		}, http.StatusBadRequest, "unknown"},
		{"user denied", func(t *testing.T) string { return f.consent(t, f.start(t, "org-b"), "deny") }, http.StatusForbidden, "denied"},
		{"expired state", func(t *testing.T) string {
			state := "expired-state-0123456789"
			sum := sha256.Sum256([]byte(state))
			if err := f.env.Store.CreateAuthState(ctx, store.AuthState{StateHash: sum[:], ConnectionName: "graph", OrgID: "org-c",
				Verifier: "v", RedirectURI: f.env.CallbackURL + authcode.CallbackPath, ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
			return f.env.CallbackURL + authcode.CallbackPath + "?code=x&state=" + state
		}, http.StatusBadRequest, "expired"},
		{"PKCE verifier does not match the challenge", func(t *testing.T) string {
			// A code issued for another verifier's challenge, redeemed with ours.
			state := "pkce-state-0123456789"
			sum := sha256.Sum256([]byte(state))
			redirect := f.env.CallbackURL + authcode.CallbackPath
			if err := f.env.Store.CreateAuthState(ctx, store.AuthState{StateHash: sum[:], ConnectionName: "graph", OrgID: "org-d",
				Verifier: "our-verifier-0123456789012345678901234567890123", RedirectURI: redirect, ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			other := sha256.Sum256([]byte("another-verifier"))
			u, _ := url.Parse(f.provider.AuthorizeURL())
			u.RawQuery = url.Values{"response_type": {"code"}, "client_id": {f.provider.ClientID}, "redirect_uri": {redirect}, "state": {state},
				"code_challenge": {base64.RawURLEncoding.EncodeToString(other[:])}, "code_challenge_method": {"S256"}}.Encode()
			return f.consent(t, u, "approve")
		}, http.StatusBadGateway, "refused the code"},
		{"provider error", func(t *testing.T) string {
			back := f.consent(t, f.start(t, "org-e"), "approve")
			f.provider.FailNext(http.StatusInternalServerError)
			return back
		}, http.StatusBadGateway, "provider"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, page := get(t, tc.url(t))
			if status != tc.status || !strings.Contains(page, tc.says) {
				t.Fatalf("callback %d %q, want %d saying %q", status, page, tc.status, tc.says)
			}
		})
	}
	tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
	if err != nil || len(tokens.GetTokens()) != 0 {
		t.Fatalf("a refused callback stored a token: %v, %v", tokens, err)
	}
}

func TestStartRefusesClientCredentialsConnections(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "halo", Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: f.provider.ClientID, ClientSecret: f.provider.ClientSecret, TokenUrl: f.provider.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "halo", Global: true}); err == nil {
		t.Fatal("StartAuthorization accepted a client_credentials connection")
	}
	resp, err := f.admin.ConnectClientCredentials(ctx, &adminv1.ConnectClientCredentialsRequest{Connection: "halo", OrgId: "org-a", EntityId: "e1"})
	if err != nil || resp.GetToken().GetStatus() != adminv1.TokenStatus_TOKEN_STATUS_CONNECTED || f.provider.Calls("client_credentials") != 1 {
		t.Fatalf("ConnectClientCredentials: %v, %v", resp, err)
	}
}

func TestConnectAtAProviderThatTakesClientCredentialsOnlyInTheBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.provider.RequirePostAuth()
	ctx := context.Background()
	if _, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
		Connection: &adminv1.Connection{Name: "graph", TokenAuthMethod: adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_POST},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_auth_method"}},
	}); err != nil {
		t.Fatal(err)
	}
	if status, page := get(t, f.consent(t, f.start(t, "org-a"), "approve")); status != http.StatusOK || !strings.Contains(page, "Connected") {
		t.Fatalf("callback page %d: %s", status, page)
	}
	resp, err := f.api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	if err != nil || !f.provider.Valid(resp.GetIntegration().GetOauth().GetAccessToken()) {
		t.Fatalf("refresh after connect: %v, %v", resp, err)
	}
	if n := f.provider.Calls("invalid_client"); n != 0 {
		t.Fatalf("%d requests refused for their client authentication", n)
	}
}

// Expired states go, used or not; a live one stays and still works.
func TestPruneStatesDeletesExpiredStatesOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	put := func(state string, expires time.Time) []byte {
		sum := sha256.Sum256([]byte(state))
		if err := f.env.Store.CreateAuthState(ctx, store.AuthState{StateHash: sum[:], ConnectionName: "graph", OrgID: "org-p",
			Verifier: "v", RedirectURI: f.env.CallbackURL + authcode.CallbackPath, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
		return sum[:]
	}
	expired, live := put("expired-state-for-pruning", time.Now().Add(-time.Second)), put("live-state-for-pruning", time.Now().Add(time.Minute))
	if _, err := f.env.Store.ConsumeAuthState(ctx, expired); !errors.Is(err, store.ErrStateExpired) {
		t.Fatalf("before pruning: %v, want ErrStateExpired", err)
	}

	pruning, stop := context.WithCancel(ctx)
	defer stop()
	go authcode.New(f.env.Store, authcode.Options{}).PruneStates(pruning, time.Hour)
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, err := f.env.Store.ConsumeAuthState(ctx, expired); !errors.Is(err, store.ErrStateUnknown) {
			return fmt.Errorf("expired state still there: %v", err)
		}
		return nil
	})
	if _, err := f.env.Store.ConsumeAuthState(ctx, live); err != nil {
		t.Fatalf("the live state after pruning: %v", err)
	}
}
