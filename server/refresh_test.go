package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

type refreshFixture struct {
	env      *testutil.Env
	provider *oauthtest.Provider
	admin    adminv1.AdminServiceClient
	api      integrationsv1.IntegrationsServiceClient
}

// newRefreshFixture links integration "Graph" to an authorization-code
// connection at a strict provider, and integration "Halo" to a
// client-credentials connection at the same provider.
func newRefreshFixture(t *testing.T, lifetime time.Duration, opts oauth.Options) *refreshFixture {
	t.Helper()
	p := oauthtest.New(t, lifetime)
	opts.HTTPClient = p.Server.Client()
	env := testutil.Start(t, opts)
	f := &refreshFixture{env: env, provider: p, admin: env.Admin(t), api: env.Integrations(t, env.AdminKey)}
	ctx := context.Background()
	for _, c := range []*adminv1.Connection{
		{Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
			AuthorizationUrl: p.Server.URL + "/authorize", TokenUrl: p.TokenURL(), RefreshMargin: durationpb.New(5 * time.Minute)},
		{Name: "halo", Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
			TokenUrl: p.TokenURL(), Audience: "halo-api", Scopes: []string{"all"}, TokenParams: map[string]string{"resource": "https://halo.example"}},
	} {
		if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: c}); err != nil {
			t.Fatal(err)
		}
	}
	for name, conn := range map[string]string{"Graph": "graph", "Halo": "halo"} {
		if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
			Name: name, OauthConnection: conn, DefaultEntityId: "default-tenant",
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// putIssued stores a token pair the provider issued, expiring at expiresAt.
func (f *refreshFixture) putIssued(t *testing.T, org string, expiresAt time.Time) (access, refresh string) {
	t.Helper()
	access, refresh = f.provider.Issue()
	if _, err := f.admin.PutToken(context.Background(), &adminv1.PutTokenRequest{
		Connection: "graph", OrgId: org, AccessToken: access, RefreshToken: refresh, ExpiresAt: timestamppb.New(expiresAt),
	}); err != nil {
		t.Fatal(err)
	}
	return access, refresh
}

// runBackground runs the background refresher until the test ends.
func (f *refreshFixture) runBackground(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.env.Refresher.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// wantOneBackgroundRefresh waits for the background refresher's first renewal
// to be stored, then for settle, and fails unless it stayed the only provider
// call.
func (f *refreshFixture) wantOneBackgroundRefresh(t *testing.T, settle time.Duration) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if !f.refreshStored(t) {
			return fmt.Errorf("the background refresher did not renew the token (%d provider calls)", f.provider.Calls("refresh_token"))
		}
		return nil
	})
	time.Sleep(settle) // not a poll: time for a second, unwanted refresh to happen
	if n := f.provider.Calls("refresh_token"); n != 1 {
		t.Fatalf("background refreshed %d times, want once", n)
	}
}

// refreshStored says whether the fixture's one token has been renewed and the
// renewal stored: the provider's answer is not yet the token a read gets.
func (f *refreshFixture) refreshStored(t *testing.T) bool {
	t.Helper()
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return len(tokens.GetTokens()) == 1 && tokens.GetTokens()[0].GetVersion() >= 2
}

func (f *refreshFixture) get(ctx context.Context, req *integrationsv1.GetIntegrationRequest) (*integrationsv1.OAuthCredentials, error) {
	resp, err := f.api.GetIntegration(ctx, req)
	return resp.GetIntegration().GetOauth(), err
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	st := wantCode(t, err, codes.FailedPrecondition)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reason {
			return
		}
	}
	t.Fatalf("no ErrorInfo reason %s in %v", reason, st.Details())
}

func TestConcurrentReadsOfAnExpiredTokenRefreshItOnce(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	f.provider.SetDelay(50 * time.Millisecond)
	old, _ := f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	const callers = 500
	tokens := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
			tokens[i], errs[i] = o.GetAccessToken(), err
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] == old || !f.provider.Valid(tokens[i]) || tokens[i] != tokens[0] {
			t.Fatalf("caller %d got %q; want the one new valid token %q", i, tokens[i], tokens[0])
		}
	}
	if n := f.provider.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider saw %d refresh calls, want 1", n)
	}
	if n := f.provider.InvalidGrants(); n != 0 {
		t.Fatalf("provider answered invalid_grant %d times", n)
	}
}

func TestFreshTokenIsServedWithoutCallingTheProvider(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	access, _ := f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() != access {
		t.Fatalf("got %q, %v; want the stored token", o.GetAccessToken(), err)
	}
	if n := f.provider.Calls("refresh_token"); n != 0 {
		t.Fatalf("provider called %d times for a fresh token", n)
	}
}

func TestTokenInsideMarginIsRefreshedOnRead(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	access, _ := f.putIssued(t, "org-a", time.Now().Add(4*time.Minute)) // margin is 5m
	o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() == access || o.GetExpiresAt().AsTime().Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("got %v, %v; want a new token living about an hour", o, err)
	}
	// The refresh's own log line carries the request ID of the read that caused it.
	if !strings.Contains(f.env.Logs.String(), `"msg":"token refreshed"`) || !regexpRefreshWithRequestID.MatchString(f.env.Logs.String()) {
		t.Fatalf("the refresh log line has no request_id:\n%s", f.env.Logs.String())
	}
	events := auditEvents(t, &fixture{env: f.env, admin: f.admin}, &adminv1.ListAuditEventsRequest{OrgId: "org-a"}, 2)
	var refreshed bool
	for _, e := range events {
		refreshed = refreshed || (e.GetMethod() == "refresh" && e.GetOutcome() == "OK" && strings.Contains(e.GetDetail(), "connection graph"))
		if strings.Contains(e.GetDetail(), o.GetAccessToken()) || strings.Contains(e.GetDetail(), access) {
			t.Fatal("audit detail holds a token")
		}
	}
	if !refreshed {
		t.Fatalf("no refresh event in %v", events)
	}
}

func TestForceRefreshAndMinValidity(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, 10*time.Minute, oauth.Options{})
	ctx := context.Background()
	access, _ := f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	if err != nil || o.GetAccessToken() == access {
		t.Fatalf("force_refresh: %v, %v", o.GetAccessToken(), err)
	}
	// The provider's tokens live 10 minutes: 20 minutes of validity cannot be had,
	// and asking again does not make the provider issue them again.
	calls := f.provider.Calls("refresh_token")
	for range 3 {
		_, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", MinValidity: durationpb.New(20 * time.Minute)})
		wantReason(t, err, oauth.ReasonLifetimeTooShort)
	}
	if n := f.provider.Calls("refresh_token") - calls; n != 0 {
		t.Fatalf("min_validity beyond the provider's token lifetime called it %d times", n)
	}
	o, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", MinValidity: durationpb.New(7 * time.Minute)})
	if err != nil || time.Until(o.GetExpiresAt().AsTime()) < 7*time.Minute {
		t.Fatalf("min_validity 7m: %v, %v", o, err)
	}
	// Another org falls back to the global token, of which there is none.
	_, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-b", ForceRefresh: true})
	wantReason(t, err, oauth.ReasonNeedsReauth)
}

func TestResponseWithoutRefreshTokenKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	f.provider.SetRotation(false)
	_, refresh := f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	ctx := context.Background()
	for range 2 {
		o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
		if err != nil || o.GetRefreshToken() != refresh {
			t.Fatalf("refresh token after a response without one: %q, %v; want the old %q", o.GetRefreshToken(), err, refresh)
		}
	}
	f.provider.SetRotation(true)
	o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	if err != nil || o.GetRefreshToken() == refresh || o.GetRefreshToken() == "" {
		t.Fatalf("rotated refresh token not stored: %q, %v", o.GetRefreshToken(), err)
	}
	if _, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true}); err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
	if n := f.provider.InvalidGrants(); n != 0 {
		t.Fatalf("%d invalid_grant", n)
	}
}

func TestInvalidGrantMarksNeedsReauthAndStopsCallingTheProvider(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	old, _ := f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	f.provider.RevokeGrants()
	o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH || o.GetAccessToken() != old {
		t.Fatalf("after invalid_grant: %v, %v; want the old, still valid token with NEEDS_REAUTH", o, err)
	}
	calls := f.provider.Calls("refresh_token")
	for range 5 {
		_, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", MinValidity: durationpb.New(10 * time.Minute)})
		wantReason(t, err, oauth.ReasonNeedsReauth)
	}
	if err := f.env.Refresher.RenewByID(ctx, tokenID(t, f, "org-a")); err == nil {
		t.Fatal("the background path refreshed a NEEDS_REAUTH token")
	}
	if n := f.provider.Calls("refresh_token"); n != calls {
		t.Fatalf("provider called %d more times after NEEDS_REAUTH", n-calls)
	}
	tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{Connection: "graph"})
	if err != nil || tokens.GetTokens()[0].GetStatus() != adminv1.TokenStatus_TOKEN_STATUS_NEEDS_REAUTH || tokens.GetTokens()[0].GetLastError() == "" {
		t.Fatalf("admin view: %v, %v", tokens, err)
	}
	// A new token (the account connected again) is CONNECTED again.
	fresh, _ := f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	o, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() != fresh || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED {
		t.Fatalf("after a new token was put: %v, %v", o, err)
	}
}

var regexpRefreshWithRequestID = regexp.MustCompile(`"msg":"token refreshed"[^\n]*"request_id":"[0-9a-f-]{36}"`)

func tokenID(t *testing.T, f *refreshFixture, org string) string {
	t.Helper()
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens.GetTokens() {
		if tok.GetOrgId() == org {
			return tok.GetId()
		}
	}
	t.Fatalf("no token for %s", org)
	return ""
}

func TestProviderOutageBacksOffServesOldTokenAndRecovers(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	f := newRefreshFixture(t, time.Hour, oauth.Options{BackoffBase: time.Minute, BackoffMax: time.Hour, Now: clock.Now})
	ctx := context.Background()
	old, _ := f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	f.provider.FailNext(http.StatusServiceUnavailable)
	o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() != old || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_REFRESH_FAILED {
		t.Fatalf("during the outage: %v, %v; want the old token with REFRESH_FAILED", o, err)
	}
	calls := f.provider.Calls("refresh_token")
	// Within the backoff, reads do not call the provider again (no storm)...
	for range 20 {
		o, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		if err != nil || o.GetAccessToken() != old {
			t.Fatalf("in backoff: %v, %v", o, err)
		}
	}
	_, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	wantReason(t, err, oauth.ReasonRefreshFailed)
	if n := f.provider.Calls("refresh_token"); n != calls {
		t.Fatalf("%d provider calls during backoff", n-calls)
	}
	// ...and after it (one minute plus at most 20% jitter), the next read
	// refreshes and the token is CONNECTED again.
	clock.Advance(73 * time.Second)
	o, err = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() == old || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED {
		t.Fatalf("after the outage: %v, %v", o, err)
	}
}

func TestClientCredentialsFetchedOncePerEntity(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	for org, entity := range map[string]string{"org-a": "tenant.a~1", "org-b": "tenant-b"} {
		if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: org, EntityId: entity}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 60 {
		org := []string{"org-a", "org-b", "org-c"}[i%3]
		wg.Go(func() {
			o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo", OrgId: org})
			if err != nil || !f.provider.Valid(o.GetAccessToken()) {
				t.Errorf("%s: %v, %v", org, o, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := seen[org]; ok && prev != o.GetAccessToken() {
				t.Errorf("%s got two tokens", org)
			}
			seen[org] = o.GetAccessToken()
		})
	}
	wg.Wait()
	if n := f.provider.Calls("client_credentials"); n != 3 {
		t.Fatalf("provider saw %d client_credentials calls, want 3 (one per org and entity)", n)
	}
	for _, entity := range []string{"tenant.a~1", "tenant-b", "default-tenant"} {
		if n := f.provider.EntityCalls(entity); n != 1 {
			t.Errorf("token URL for entity %q called %d times, want 1", entity, n)
		}
	}
	if got := f.provider.LastParams(); len(got["audience"]) != 1 || got["audience"][0] != "halo-api" || got.Get("resource") != "https://halo.example" {
		t.Errorf("params sent = %v", got)
	}
	if seen["org-a"] == seen["org-b"] {
		t.Error("two entities share one token")
	}
}

func TestBackgroundRefresherRenewsAheadWithoutAnyRead(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{Interval: 20 * time.Millisecond, Ahead: 2 * time.Minute})
	f.runBackground(t)
	// Enters its 5-minute margin in 1 minute: within the 2-minute look-ahead.
	old, _ := f.putIssued(t, "org-a", time.Now().Add(6*time.Minute))
	f.wantOneBackgroundRefresh(t, 100*time.Millisecond)
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil || tokens.GetTokens()[0].GetLastRefreshedAt() == nil || tokens.GetTokens()[0].GetVersion() != 2 {
		t.Fatalf("token after background refresh: %v, %v", tokens, err)
	}
	o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetAccessToken() == old {
		t.Fatalf("read after background refresh: %v, %v", o, err)
	}
}

// A provider whose tokens live 4 minutes, under a 5-minute margin: every token it
// issues is inside the margin from the start. Reads must not take that as a
// reason to refresh again, or each read would be a provider call.
func TestShortLivedProviderTokensAreRefreshedAtHalfLifeNotOnEveryRead(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, 4*time.Minute, oauth.Options{})
	f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	var first string
	for i := range 5 {
		o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = o.GetAccessToken()
		}
		if o.GetAccessToken() != first || !f.provider.Valid(first) {
			t.Fatalf("read %d got another token than the first refresh gave", i)
		}
	}
	if n := f.provider.Calls("refresh_token"); n != 1 {
		t.Fatalf("provider saw %d refresh calls for 5 reads, want 1 (the expired token's)", n)
	}
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokens.GetTokens()[0]
	// Half of what was left when it was stored, a moment after the provider answered.
	if margin := tok.GetExpiresAt().AsTime().Sub(tok.GetNextRefreshAt().AsTime()); margin < 119*time.Second || margin > 2*time.Minute+24*time.Second {
		t.Fatalf("next refresh %s before expiry, want half the 4-minute lifetime and up to a tenth of it of spread", margin)
	}
	// Asked for, a refresh still happens.
	if _, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	if n := f.provider.Calls("refresh_token"); n != 2 {
		t.Fatalf("provider saw %d refresh calls after a forced refresh, want 2", n)
	}
}

// A token that lives less than twice the margin is due at half its life; one
// that lives less than twice the background's 30-second look-ahead would be due
// again as soon as it was renewed. Either way, one renewal, not one per pass.
func TestBackgroundRefresherRenewsAShortLivedTokenOnce(t *testing.T) {
	t.Parallel()
	for _, lifetime := range []time.Duration{4 * time.Minute, 40 * time.Second} {
		t.Run(lifetime.String(), func(t *testing.T) {
			t.Parallel()
			f := newRefreshFixture(t, lifetime, oauth.Options{Interval: 20 * time.Millisecond})
			f.runBackground(t)
			f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
			f.wantOneBackgroundRefresh(t, 500*time.Millisecond) // dozens of passes
		})
	}
}

// A provider's error description is kept (clipped) in the token's last error
// and in the refresh's audit event. PostgreSQL refuses a NUL byte or a UTF-8
// sequence cut in half: the failure went unrecorded and the read failed.
func TestProviderErrorTextOfAnyKindIsRecorded(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	old, _ := f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	// 13 bytes, then 3-byte characters: a 200-byte clip falls inside one.
	f.provider.RevokeGrantsSaying("AADSTS70000:\x00" + strings.Repeat("期限切れ", 100))
	o, err := f.get(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH || o.GetAccessToken() != old {
		t.Fatalf("read after invalid_grant: %v, %v; want the old token, NEEDS_REAUTH", o, err)
	}
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := tokens.GetTokens()[0].GetLastError()
	if !strings.Contains(last, "invalid_grant (AADSTS70000:") || !strings.Contains(last, "期限切れ") || !utf8.ValidString(last) || strings.ContainsFunc(last, unicode.IsControl) {
		t.Fatalf("last error %q", last)
	}
	if d := f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a"}, testutil.AuditMethod("refresh")).GetDetail(); !strings.Contains(d, "期限切れ") || !utf8.ValidString(d) {
		t.Fatalf("refresh event detail %q", d)
	}
}

func TestRefreshSetOffByAReadCarriesTheReadsRequestID(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "req-refresh-1")
	if _, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	if e := f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a"}, testutil.AuditMethod("refresh")); e.GetRequestId() != "req-refresh-1" || e.GetOutcome() != "OK" {
		t.Fatalf("refresh event %v; want the read's request ID", e)
	}
}

// The background refresher works from each token's stored next refresh; a new
// margin moves it at once, not only from each token's next refresh on.
func TestChangingTheRefreshMarginReschedulesTheTokens(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	nextRefreshBeforeExpiry := func() time.Duration {
		t.Helper()
		tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{Connection: "graph"})
		if err != nil {
			t.Fatal(err)
		}
		tok := tokens.GetTokens()[0]
		return tok.GetExpiresAt().AsTime().Sub(tok.GetNextRefreshAt().AsTime())
	}
	// A token put by hand is due anywhere between when it was put and its
	// margin, to spread the refreshes of tokens put together.
	if got := nextRefreshBeforeExpiry(); got < 5*time.Minute || got > time.Hour {
		t.Fatalf("next refresh %s before expiry, want between the 5-minute margin and the hour it had left", got)
	}
	// A margin longer than the hour it has left puts it inside the margin
	// now: due at once, not when its old schedule said.
	if _, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
		Connection: &adminv1.Connection{Name: "graph", RefreshMargin: durationpb.New(2 * time.Hour)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"refresh_margin"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := nextRefreshBeforeExpiry(); got != 2*time.Hour {
		t.Fatalf("next refresh %s before expiry after the margin became 2 hours, want 2h0m0s", got)
	}
}

func TestDeadlineBoundsAWaitOnASlowProvider(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	f.provider.SetDelay(2 * time.Second)
	f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	if status.Code(err) != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DEADLINE_EXCEEDED", err)
	}
}

// TestNoTokenInAnyLogLineOrAuditRecordOfAFullScenario runs refreshes, failures,
// client credentials and reads at debug level and searches every log line and
// audit record for every token the provider issued and every secret put.
func TestNoTokenInAnyLogLineOrAuditRecordOfAFullScenario(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{BackoffBase: time.Millisecond})
	ctx := context.Background()
	f.putIssued(t, "org-a", time.Now().Add(-time.Minute))
	f.putIssued(t, "org-b", time.Now().Add(time.Minute))
	for _, req := range []*integrationsv1.GetIntegrationRequest{
		{Name: "Graph", OrgId: "org-a"}, {Name: "Graph", OrgId: "org-b", ForceRefresh: true}, {Name: "Halo", OrgId: "org-c"},
	} {
		if _, err := f.get(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	f.provider.FailNext(http.StatusBadGateway)
	_, _ = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	f.provider.RevokeGrants()
	time.Sleep(5 * time.Millisecond) // not a poll: a pause between the scenario's steps, past its 1 ms backoff base
	_, _ = f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-b", ForceRefresh: true})
	events := auditEvents(t, &fixture{env: f.env, admin: f.admin}, &adminv1.ListAuditEventsRequest{PageSize: 1000}, 8)
	records := f.env.Logs.String()
	for _, e := range events {
		records += protojson.Format(e)
	}
	secrets := append(f.provider.Issued(), f.provider.ClientSecret, f.env.AdminKey)
	if len(secrets) < 6 {
		t.Fatalf("the scenario issued only %d secrets", len(secrets))
	}
	for _, secret := range secrets {
		if strings.Contains(records, secret) {
			t.Errorf("logs or audit records contain secret %q", secret)
		}
	}
}

func TestTokenRequestsAuthenticateTheClientTheWayTheConnectionSays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		providerPostOnly bool
		method           adminv1.TokenAuthMethod
		wantOK           bool
	}{
		{"unspecified is basic, at a provider taking basic", false, adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_UNSPECIFIED, true},
		{"post at a provider taking only post", true, adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_POST, true},
		{"post at a provider taking only basic", false, adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_POST, false},
		{"basic at a provider taking only post", true, adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_BASIC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newRefreshFixture(t, time.Hour, oauth.Options{})
			ctx := context.Background()
			if tc.providerPostOnly {
				f.provider.RequirePostAuth()
			}
			for _, conn := range []string{"graph", "halo"} {
				if _, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
					Connection: &adminv1.Connection{Name: conn, TokenAuthMethod: tc.method},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_auth_method"}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			f.putIssued(t, "org-a", time.Now().Add(time.Hour))
			_, refreshErr := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
			fetched, fetchErr := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo", OrgId: "org-a"})
			if tc.wantOK && (refreshErr != nil || fetchErr != nil) {
				t.Fatalf("refresh: %v; client credentials: %v", refreshErr, fetchErr)
			}
			if !tc.wantOK {
				wantReason(t, refreshErr, oauth.ReasonNeedsReauth)
				if fetchErr == nil && fetched.GetAccessToken() != "" {
					t.Fatalf("client credentials fetched with credentials the provider refuses: %v", fetched)
				}
			}
			// One request per grant either way: a refused method is not retried
			// the other way (that would reuse the refresh token).
			if r, c := f.provider.Calls("refresh_token"), f.provider.Calls("client_credentials"); r != 1 || c != 1 {
				t.Fatalf("%d refresh and %d client-credentials requests, want 1 each", r, c)
			}
		})
	}
}

func TestRefreshSendsTheConnectionsTokenParams(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	if _, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
		Connection: &adminv1.Connection{Name: "graph", TokenParams: map[string]string{"resource": "https://graph.example"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_params"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, refresh := f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	if _, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	got := f.provider.LastParams()
	if got.Get("grant_type") != "refresh_token" || got.Get("refresh_token") != refresh || got.Get("resource") != "https://graph.example" {
		t.Fatalf("refresh request params = %v", got)
	}
}
