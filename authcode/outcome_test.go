package authcode_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/bifrost/integrations/authcode"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// startState begins a connect of org's account for the Graph mapping and
// returns the authorization URL and the state the response names.
func (f *fixture) startState(t *testing.T, org string) (*url.URL, string) {
	t.Helper()
	resp, err := f.admin.StartAuthorization(context.Background(), &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: org, MappingIntegration: "Graph"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(resp.GetAuthorizationUrl())
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetState() == "" || u.Query().Get("state") != resp.GetState() {
		t.Fatalf("response state %q, URL state %q", resp.GetState(), u.Query().Get("state"))
	}
	return u, resp.GetState()
}

func (f *fixture) outcome(t *testing.T, state string) *adminv1.Authorization {
	t.Helper()
	resp, err := f.admin.GetAuthorization(context.Background(), &adminv1.GetAuthorizationRequest{State: state})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAuthorization()
}

// What became of a connect is told by its state: pending until the person
// comes back, then connected with the token that sign-in stored, or denied or
// failed with the reason the callback page gave, at once.
func TestOutcomeOfAConnectIsToldByItsState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name       string
		org        string
		signIn     func(t *testing.T, authURL *url.URL) // ends at the callback
		want       adminv1.AuthorizationStatus
		detailHas  []string
		tokenIsOrg bool // token_id is the org's stored token
	}{
		{"approved", "org-ok", func(t *testing.T, u *url.URL) { get(t, f.consent(t, u, "approve")) },
			adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_CONNECTED, nil, true},
		{"denied by the person", "org-denied", func(t *testing.T, u *url.URL) { get(t, f.consent(t, u, "deny")) },
			adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_DENIED, []string{"denied at the provider", "The user denied the request"}, false},
		{"the code refused at the token endpoint", "org-refused", func(t *testing.T, u *url.URL) {
			back := f.consent(t, u, "approve")
			f.provider.FailNext(http.StatusInternalServerError)
			get(t, back)
		}, adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_FAILED, []string{"refused the code (HTTP 500"}, false},
		{"another error from the provider", "org-scope", func(t *testing.T, u *url.URL) {
			get(t, u.Query().Get("redirect_uri")+"?"+url.Values{"state": {u.Query().Get("state")}, "error": {"invalid_scope"}, "error_description": {"User.Write is not granted"}}.Encode())
		}, adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_FAILED, []string{"invalid_scope", "User.Write is not granted"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: FailNext answers whichever request comes next.
			u, state := f.startState(t, tc.org)
			if got := f.outcome(t, state); got.GetStatus() != adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_PENDING ||
				got.GetOrgId() != tc.org || got.GetConnection() != "graph" || got.GetMappingIntegration() != "Graph" || got.GetFinishTime() != nil {
				t.Fatalf("before the sign-in: %v", got)
			}
			tc.signIn(t, u)
			got := f.outcome(t, state)
			if got.GetStatus() != tc.want || got.GetFinishTime() == nil {
				t.Fatalf("after the sign-in: %v, want %v", got, tc.want)
			}
			for _, want := range tc.detailHas {
				if !strings.Contains(got.GetDetail(), want) {
					t.Errorf("detail %q lacks %q", got.GetDetail(), want)
				}
			}
			tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
			if err != nil {
				t.Fatal(err)
			}
			orgToken := ""
			for _, tok := range tokens.GetTokens() {
				if tok.GetOrgId() == tc.org {
					orgToken = tok.GetId()
				}
			}
			if tc.tokenIsOrg && (got.GetTokenId() == "" || got.GetTokenId() != orgToken) {
				t.Errorf("token_id %q, the org's token %q", got.GetTokenId(), orgToken)
			}
			if !tc.tokenIsOrg && (got.GetTokenId() != "" || orgToken != "") {
				t.Errorf("a connect that did not succeed names token %q, stored %q", got.GetTokenId(), orgToken)
			}
		})
	}
}

// A connect is settled once: the link used again (a reload, a replay) is
// refused and changes nothing of what the first use made of it.
func TestOutcomeIsSettledOnceAndAReplayedLinkLeavesIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, state := f.startState(t, "org-a")
	back := f.consent(t, u, "approve")
	get(t, back)
	first := f.outcome(t, state)
	if status, _ := get(t, back); status != http.StatusBadRequest {
		t.Fatalf("replayed callback answered %d", status)
	}
	withError := back + "&error=access_denied"
	get(t, withError)
	if again := f.outcome(t, state); again.GetStatus() != adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_CONNECTED ||
		again.GetTokenId() != first.GetTokenId() || !again.GetFinishTime().AsTime().Equal(first.GetFinishTime().AsTime()) {
		t.Fatalf("after replays: %v, first %v", again, first)
	}
}

// A state nobody came back with is EXPIRED past its expiry; one never started
// (or pruned) is NOT_FOUND.
func TestOutcomeOfAnUnusedStatePastItsExpiryIsExpiredAndOfAnUnknownOneNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	state := "expired-outcome-state-0123456789"
	sum := sha256.Sum256([]byte(state))
	if err := f.env.Store.CreateAuthState(ctx, store.AuthState{StateHash: sum[:], ConnectionName: "graph", OrgID: "org-x",
		Verifier: "v", RedirectURI: f.env.CallbackURL + authcode.CallbackPath, ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := f.outcome(t, state); got.GetStatus() != adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_EXPIRED || got.GetFinishTime() != nil {
		t.Fatalf("an expired state: %v", got)
	}
	_, err := f.admin.GetAuthorization(ctx, &adminv1.GetAuthorizationRequest{State: "never-started"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("an unknown state: %v, want NotFound", err)
	}
}

// The outcome is an admin's to read, and holds no secret: not the tokens the
// sign-in stored, the client secret, the PKCE verifier, the code, nor the
// state itself.
func TestOutcomeIsForAdminsOnlyAndHoldsNoSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, state := f.startState(t, "org-a")
	back := f.consent(t, u, "approve")
	get(t, back)
	resp, err := f.admin.GetAuthorization(context.Background(), &adminv1.GetAuthorizationRequest{State: state})
	if err != nil {
		t.Fatal(err)
	}
	text := prototext.Format(resp)
	code, _ := url.Parse(back)
	secrets := append(f.provider.Issued(), f.provider.ClientSecret, state, code.Query().Get("code"))
	tok, err := f.api.GetIntegration(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok.GetIntegration().GetOauth().GetAccessToken())
	for _, secret := range secrets {
		if secret != "" && strings.Contains(text, secret) {
			t.Errorf("the outcome holds a secret:\n%s", text)
		}
	}
	for _, role := range []adminv1.Role{adminv1.Role_ROLE_WORKER, adminv1.Role_ROLE_WORKER_ALL_ORGS} {
		org := ""
		if role == adminv1.Role_ROLE_WORKER {
			org = "org-a"
		}
		worker := adminv1.NewAdminServiceClient(f.env.Conn(t, f.env.NewKey(t, role, org)))
		if _, err := worker.GetAuthorization(context.Background(), &adminv1.GetAuthorizationRequest{State: state}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("a %v key reads the outcome of its own org's connect: %v", role, err)
		}
	}
}

// --entity-id works where the connection's URLs use {entity_id}: the sign-in
// and the code exchange go to that entity, and the organization's mapping is
// bound to it, so that every refresh goes there too. Elsewhere it is refused,
// saying why, before anyone is sent to sign in.
func TestConnectForANamedEntityBindsTheMappingOrIsRefusedWithAReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "plain", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: f.provider.ClientID, ClientSecret: f.provider.ClientSecret,
		AuthorizationUrl: f.provider.AuthorizeURL(), TokenUrl: f.provider.Server.URL + "/common/token",
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Plain", OauthConnection: "plain"}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ org, entity string }{{"org-bound", "tenant-b"}, {"org-other", "tenant-taken"}} {
		if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: m.org, EntityId: m.entity}); err != nil {
			t.Fatal(err)
		}
	}
	refusals := []struct {
		name  string
		req   *adminv1.StartAuthorizationRequest
		code  codes.Code
		field string
		says  string
	}{
		{"URLs without {entity_id}", &adminv1.StartAuthorizationRequest{Connection: "plain", OrgId: "org-a", MappingIntegration: "Plain", EntityId: "t1"},
			codes.InvalidArgument, "entity_id", "do not use {entity_id}"},
		{"the global token", &adminv1.StartAuthorizationRequest{Connection: "graph", Global: true, EntityId: "t1"},
			codes.InvalidArgument, "entity_id", "default entity"},
		{"no mapping to bind", &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-a", EntityId: "t1"},
			codes.InvalidArgument, "entity_id", "needs mapping_integration"},
		{"a mapping bound to another entity", &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-bound", MappingIntegration: "Graph", EntityId: "t1"},
			codes.InvalidArgument, "entity_id", `bound to entity "tenant-b"`},
		{"an entity another organization holds", &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-a", MappingIntegration: "Graph", EntityId: "tenant-taken"},
			codes.AlreadyExists, "", "another organization"},
		{"an integration of another connection", &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-a", MappingIntegration: "Plain"},
			codes.InvalidArgument, "mapping_integration", `does not use oauth connection "graph"`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.admin.StartAuthorization(ctx, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.says) {
				t.Fatalf("%v %q, want %v saying %q", st.Code(), st.Message(), tc.code, tc.says)
			}
			if tc.field != "" && violatedField(st) != tc.field {
				t.Errorf("BadRequest names %q, want %q", violatedField(st), tc.field)
			}
		})
	}

	t.Run("an entity for the org's mapping", func(t *testing.T) {
		t.Parallel()
		resp, err := f.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-new", MappingIntegration: "Graph", EntityId: "tenant-new"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(resp.GetAuthorizationUrl())
		if status, page := get(t, f.consent(t, u, "approve")); status != http.StatusOK {
			t.Fatalf("callback %d: %s", status, page)
		}
		if got := f.outcome(t, resp.GetState()); got.GetStatus() != adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_CONNECTED || got.GetEntityId() != "tenant-new" {
			t.Fatalf("outcome %v", got)
		}
		m, err := f.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Graph", OrgId: "org-new"})
		if err != nil || m.GetMapping().GetEntityId() != "tenant-new" || m.GetMapping().GetOauthTokenId() == "" {
			t.Fatalf("mapping after the connect: %v, %v", m, err)
		}
		exchanged := f.provider.EntityCalls("tenant-new")
		if _, err := f.api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-new", ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
		if exchanged < 1 || f.provider.EntityCalls("tenant-new") != exchanged+1 {
			t.Fatalf("token endpoint of tenant-new saw %d calls for the exchange, %d after a refresh", exchanged, f.provider.EntityCalls("tenant-new"))
		}
	})

	t.Run("an entity another organization takes while the person signs in", func(t *testing.T) {
		t.Parallel()
		resp, err := f.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-late", MappingIntegration: "Graph", EntityId: "tenant-race"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-first", EntityId: "tenant-race"}); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(resp.GetAuthorizationUrl())
		code, page := get(t, f.consent(t, u, "approve"))
		if code != http.StatusConflict || !strings.Contains(page, "could not be linked") || strings.Contains(page, "org-first") || strings.Contains(page, "another organization") {
			t.Fatalf("callback %d: %s", code, page)
		}
		got := f.outcome(t, resp.GetState())
		if got.GetStatus() != adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_FAILED || !strings.Contains(got.GetDetail(), "bound to another organization") || got.GetTokenId() != "" {
			t.Fatalf("outcome %v", got)
		}
		if m, err := f.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Graph", OrgId: "org-late"}); status.Code(err) != codes.NotFound {
			t.Fatalf("the failed connect left a mapping: %v, %v", m, err)
		}
	})
}

func violatedField(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
