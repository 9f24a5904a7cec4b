package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
	"github.com/bifrost/integrations/store"
)

// tokenID is the ID of the token of org (empty: global) on connection.
func (f *refreshFixture) tokenID(t *testing.T, connection, org string) string {
	t.Helper()
	tokens, err := f.admin.ListTokens(context.Background(), &adminv1.ListTokensRequest{Connection: connection})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens.GetTokens() {
		if tok.GetOrgId() == org {
			return tok.GetId()
		}
	}
	t.Fatalf("no token of %q on %s", org, connection)
	return ""
}

func (f *refreshFixture) bindEntity(t *testing.T, integration, org, entity string) {
	t.Helper()
	if _, err := f.api.UpsertMapping(context.Background(), &integrationsv1.UpsertMappingRequest{Name: integration, OrgId: org, EntityId: entity}); err != nil {
		t.Fatal(err)
	}
}

func (f *refreshFixture) letWorkersBindEntities(t *testing.T, integration string) {
	t.Helper()
	if _, err := f.admin.UpdateIntegration(context.Background(), &adminv1.UpdateIntegrationRequest{
		Integration: &adminv1.Integration{Name: integration, WorkersBindEntities: true},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"workers_bind_entities"}},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAMappingNamesOnlyATokenItsOrganizationCouldRead(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	bAccess, _ := f.putIssued(t, "org-b", time.Now().Add(time.Hour))
	globalAccess, _ := f.putIssued(t, "", time.Now().Add(time.Hour))
	ownAccess, _ := f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	cases := []struct {
		name  string
		token string
		want  codes.Code
	}{
		{"another organization's token", f.tokenID(t, "graph", "org-b"), codes.NotFound},
		{"the global token", f.tokenID(t, "graph", ""), codes.NotFound},
		{"a token that does not exist", "01000000-0000-7000-8000-000000000000", codes.NotFound},
		{"its own organization's token", f.tokenID(t, "graph", "org-a"), codes.OK},
	}
	for _, tc := range cases {
		_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OauthTokenId: tc.token})
		wantCode(t, err, tc.want)
		if tc.want == codes.NotFound && strings.Contains(err.Error(), "org-b") && tc.name != "another organization's token" {
			t.Fatalf("%s: the error names another organization: %v", tc.name, err)
		}
	}
	for _, force := range []bool{false, true} {
		got, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", ForceRefresh: force})
		if err != nil {
			t.Fatal(err)
		}
		access := got.GetIntegration().GetOauth().GetAccessToken()
		if access == bAccess || access == globalAccess || (!force && access != ownAccess) {
			t.Fatalf("force=%v: org-a read access token %q; its own is %q", force, access, ownAccess)
		}
	}
	// An admin may point a mapping at the global token, never at another
	// organization's.
	_, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-c", OauthTokenId: f.tokenID(t, "graph", "org-b")})
	wantCode(t, err, codes.NotFound)
	if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-c", OauthTokenId: f.tokenID(t, "graph", "")}); err != nil {
		t.Fatal(err)
	}
}

func TestAnEntityBelongsToOneOrganizationPerIntegration(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.bindEntity(t, "Graph", "org-b", "tenant-b")
	f.bindEntity(t, "Halo", "org-b", "tenant-b")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	allOrgs := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, ""))
	upsert := func(c integrationsv1.IntegrationsServiceClient, integration, org, entity string) error {
		_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: integration, OrgId: org, EntityId: entity})
		return err
	}

	// Graph lets only admins (and keys for all organizations) bind entities.
	wantCode(t, upsert(workerA, "Graph", "", "tenant-b"), codes.PermissionDenied)
	wantCode(t, upsert(workerA, "Graph", "", "tenant-a"), codes.PermissionDenied)
	wantCode(t, upsert(f.api, "Graph", "org-a", "tenant-b"), codes.AlreadyExists)
	wantCode(t, upsert(allOrgs, "Graph", "org-a", "tenant-b"), codes.AlreadyExists)
	wantCode(t, upsert(allOrgs, "Graph", "org-a", "tenant-a"), codes.OK)
	// Repeating the entity its mapping already has is no new binding.
	wantCode(t, upsert(workerA, "Graph", "", "tenant-a"), codes.OK)
	wantCode(t, upsert(workerA, "Graph", "", "tenant-a2"), codes.PermissionDenied)

	// Halo lets workers bind their organization to an entity nobody holds.
	f.letWorkersBindEntities(t, "Halo")
	wantCode(t, upsert(workerA, "Halo", "", "tenant-b"), codes.AlreadyExists)
	// Case does not make another entity; invisible characters are refused.
	wantCode(t, upsert(workerA, "Halo", "", "TENANT-B"), codes.AlreadyExists)
	// Nor can an ID pass for another, on screen or in the token URL it fills
	// (a host, a path or a query).
	for _, disguised := range []string{"tenant-b\u200b", "\u202etenant-b", "tenant-b ", "tenant-b\u00ad", "ｔenant-b",
		"x@tenant-b", "x&tenant=tenant-b", "x/../tenant-b", "x%2Ftenant-b", "tenant-b.", "x?tenant-b", "x#tenant-b"} {
		wantCode(t, upsert(workerA, "Halo", "", disguised), codes.InvalidArgument)
	}
	wantCode(t, upsert(workerA, "Halo", "", "tenant-a"), codes.OK)
	wantCode(t, upsert(workerA, "Halo", "", "tenant-a2"), codes.OK)
	wantCode(t, upsert(workerA, "Halo", "", "tenant-b"), codes.AlreadyExists)

	for _, integration := range []string{"Graph", "Halo"} {
		m, err := f.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: integration, EntityId: "tenant-b"})
		if err != nil || m.GetMapping().GetOrganizationId() != "org-b" {
			t.Fatalf("%s: tenant-b maps to %v, %v; want org-b", integration, m, err)
		}
	}
	// org-a's client-credentials read mints a token for its own entity only.
	if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo"}); err != nil {
		t.Fatal(err)
	}
	if n := f.provider.EntityCalls("tenant-b"); n != 0 {
		t.Fatalf("%d token requests for tenant-b, which org-a does not hold", n)
	}
	if n := f.provider.EntityCalls("tenant-a2"); n != 1 {
		t.Fatalf("%d token requests for org-a's tenant-a2, want 1", n)
	}
}

func TestOnlyOneOfOrganizationsRacingForAnEntityGetsIt(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	const racers = 8
	codesSeen := make(chan codes.Code, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, err := f.api.UpsertMapping(context.Background(), &integrationsv1.UpsertMappingRequest{
				Name: "Graph", OrgId: "org-" + string(rune('a'+i)), EntityId: "contested"})
			codesSeen <- status.Code(err)
		})
	}
	wg.Wait()
	close(codesSeen)
	got := map[codes.Code]int{}
	for c := range codesSeen {
		got[c]++
	}
	if got[codes.OK] != 1 || got[codes.AlreadyExists] != racers-1 {
		t.Fatalf("outcomes %v; want one OK and %d ALREADY_EXISTS", got, racers-1)
	}
}

func TestTheGlobalTokenIsRefreshedAtTheGlobalEntityWhoeverReadsIt(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.putIssued(t, "", time.Now().Add(time.Hour))
	f.bindEntity(t, "Graph", "org-c", "ENT-c")
	workerC := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-c"))
	got, err := workerC.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", ForceRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetIntegration().GetEntityId() != "ENT-c" {
		t.Fatalf("org-c reads entity %q", got.GetIntegration().GetEntityId())
	}
	if c, d := f.provider.EntityCalls("ENT-c"), f.provider.EntityCalls("default-tenant"); c != 0 || d != 1 {
		t.Fatalf("refreshes at ENT-c %d, at the global default-tenant %d; want 0 and 1", c, d)
	}
}

func TestATokenGoesOnlyToTheConnectionThatIssuedIt(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	other := oauthtest.New(t, time.Hour)
	if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "other", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: other.ClientID, ClientSecret: other.ClientSecret,
		AuthorizationUrl: other.AuthorizeURL(), TokenUrl: other.TokenURL(), RefreshMargin: durationpb.New(5 * time.Minute),
	}}); err != nil {
		t.Fatal(err)
	}
	f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-a", OauthTokenId: f.tokenID(t, "graph", "org-a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
		Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "other"},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"oauth_connection"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true})
	wantReason(t, err, oauth.ReasonNeedsReauth)
	if n := other.Arrived(); n != 0 {
		t.Fatalf("the other connection's provider got %d token requests", n)
	}
	m, err := f.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Graph", OrgId: "org-a"})
	if err != nil || m.GetMapping().GetOauthTokenId() != "" {
		t.Fatalf("mapping after the connection changed: %v, %v; want no token named", m, err)
	}
}

func TestAuditNamesTheOrganizationACallResolvedTo(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.letWorkersBindEntities(t, "Graph")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	calls := []struct {
		method string
		call   func() error
	}{
		{"UpsertMapping", func() error {
			_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", EntityId: "tenant-a"})
			return err
		}},
		{"DeleteMapping", func() error {
			_, err := workerA.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Graph"})
			return err
		}},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatal(err)
		}
		f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a", StartTime: timestamppb.New(time.Now().Add(-time.Hour))},
			testutil.AuditMethod("/bifrost.integrations.v1.IntegrationsService/"+c.method))
	}
}

func TestForcedRefreshesOfTheSharedGlobalTokenAreCoalesced(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.putIssued(t, "", time.Now().Add(time.Hour))
	f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	for range 20 {
		if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", Scope: "global", ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.provider.Calls("refresh_token"); n != 1 {
		t.Fatalf("20 forced reads of the global token made %d refreshes; want 1", n)
	}
	// An organization's own token is refreshed whenever its workers force it.
	for range 3 {
		if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.provider.Calls("refresh_token"); n != 4 {
		t.Fatalf("3 forced reads of org-a's own token: %d refreshes in all; want 4", n)
	}
}

// TestHandlersReachedWithoutACallerRefuse serves the services with none of
// the interceptors: a handler that finds no caller must refuse, not act for
// every organization.
func TestHandlersReachedWithoutACallerRefuse(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	gs := grpc.NewServer()
	srv, err := server.New(server.Deps{Store: env.Store, Refresher: env.Refresher, Keys: env.Keys})
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(gs)
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bare", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	api, admin := integrationsv1.NewIntegrationsServiceClient(conn), adminv1.NewAdminServiceClient(conn)
	ctx := context.Background()
	calls := map[string]func() error{
		"GetIntegration": func() error {
			_, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "X"})
			return err
		},
		"GetIntegration global": func() error {
			_, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "X", Scope: "global"})
			return err
		},
		"ListMappings": func() error {
			_, err := api.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "X"})
			return err
		},
		"GetMapping by entity": func() error {
			_, err := api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "X", EntityId: "e"})
			return err
		},
		"UpsertMapping": func() error {
			_, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "X", OrgId: "org-a"})
			return err
		},
		"admin ListTokens": func() error {
			_, err := admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), codes.PermissionDenied) })
	}
}

// A client-credentials token is minted for one entity: a mapping that named
// it could have it refreshed at an entity its organization no longer holds.
// Such tokens are chosen by the mapping's entity, never named, and an
// organization that leaves an entity loses its tokens for it.
func TestClientCredentialsTokensFollowTheEntityAndAreNeverNamed(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.letWorkersBindEntities(t, "Halo")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	ccTokens := func() map[string]string {
		tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{Connection: "halo"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, tok := range tokens.GetTokens() {
			out[tok.GetOrgId()+"/"+tok.GetEntityId()] = tok.GetId()
		}
		return out
	}
	for _, entity := range []string{"halo-1", "halo-2"} {
		if _, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", EntityId: entity}); err != nil {
			t.Fatal(err)
		}
		if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo"}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := ccTokens()
	if _, kept := tokens["org-a/halo-1"]; kept || tokens["org-a/halo-2"] == "" {
		t.Fatalf("org-a's client-credentials tokens after moving to halo-2: %v; want halo-2's alone", tokens)
	}
	_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OauthTokenId: tokens["org-a/halo-2"]})
	wantCode(t, err, codes.InvalidArgument)
	f.bindEntity(t, "Halo", "org-b", "halo-1")
	if _, err := workerA.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Halo"}); err != nil {
		t.Fatal(err)
	}
	if _, kept := ccTokens()["org-a/halo-2"]; kept {
		t.Fatal("org-a's token for halo-2 outlived its mapping")
	}
	if n := f.provider.EntityCalls("halo-1"); n != 1 {
		t.Fatalf("%d token requests for halo-1, now org-b's; want only org-a's first", n)
	}
}

// Entities are owned per integration, tokens per connection: an integration
// that lets workers bind cannot hand out an entity another organization holds
// on a sibling integration of the same connection, nor the integrations'
// shared default entity.
func TestAnEntityHeldOnOneIntegrationIsHeldOnItsConnection(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	for _, in := range []*adminv1.Integration{
		{Name: "HaloTickets", OauthConnection: "halo", WorkersBindEntities: true},
		{Name: "AAHaloSelf", OauthConnection: "halo", WorkersBindEntities: true},
	} {
		if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: in}); err != nil {
			t.Fatal(err)
		}
	}
	f.bindEntity(t, "Halo", "org-b", "tenant-b")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	// org-a's own client-credentials token of Halo (its default entity).
	if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo"}); err != nil {
		t.Fatal(err)
	}
	for _, integration := range []string{"HaloTickets", "AAHaloSelf"} {
		_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: integration, EntityId: "TENANT-B"})
		wantCode(t, err, codes.AlreadyExists)
		_, err = workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: integration, EntityId: "default-tenant"})
		wantCode(t, err, codes.InvalidArgument)
	}
	if _, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "AAHaloSelf", EntityId: "tenant-a"}); err != nil {
		t.Fatal(err)
	}
	// A client-credentials token is refreshed at its own entity, not at one its
	// organization holds on another integration of the connection.
	got, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Halo", ForceRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if lineage := oauthtest.Lineage(got.GetIntegration().GetOauth().GetAccessToken()); lineage != "entity:default-tenant" {
		t.Fatalf("org-a's Halo token after a forced refresh is of %q; want entity:default-tenant", lineage)
	}
	if n := f.provider.EntityCalls("tenant-b"); n != 0 {
		t.Fatalf("%d token requests for org-b's tenant-b", n)
	}
}

// min_validity can no more than force_refresh make the provider refresh the
// shared global token again within a minute of its last refresh.
func TestMinValidityCannotRefreshTheGlobalTokenOverAndOver(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	f.putIssued(t, "", time.Now().Add(30*time.Minute))
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	for i := range 5 {
		_, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", MinValidity: durationpb.New(time.Hour - 50*time.Millisecond)})
		if i > 0 {
			wantReason(t, err, oauth.ReasonLifetimeTooShort)
		}
		time.Sleep(100 * time.Millisecond) // not a poll: time passes, past what the last refresh could meet
	}
	if n := f.provider.Calls("refresh_token"); n != 1 {
		t.Fatalf("%d refreshes of the global token; want 1", n)
	}
}

// A call refused before it resolved an organization is recorded under the
// caller's own: nobody, with a key or without, fills another organization's
// audit log.
func TestRefusedCallsNamingAnotherOrganizationAreNotFiledUnderIt(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	calls := []func() error{
		func() error {
			_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-b", EntityName: "x"})
			return err
		},
		func() error {
			_, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-b", Scope: "global"})
			return err
		},
		func() error {
			_, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: "org-b", EntityId: "has space"})
			return err
		},
		func() error {
			_, err := f.env.Integrations(t, "").DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Graph", OrgId: "org-b"})
			return err
		},
	}
	for _, call := range calls {
		if err := call(); err == nil {
			t.Fatal("a call naming another organization succeeded")
		}
	}
	// The refused calls are recorded, under org-a or no organization.
	f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{OrgId: "org-a", StartTime: timestamppb.New(time.Now().Add(-time.Hour))},
		func(e *adminv1.AuditEvent) bool { return e.GetDetail() == `asked for organization "org-b"` })
	events, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{OrgId: "org-b", StartTime: timestamppb.New(time.Now().Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.GetEvents()) != 0 {
		t.Fatalf("refused calls filed under org-b: %v", events.GetEvents())
	}
}

// Admin changes cannot hand an organization an entity another holds: linking
// an integration to a connection on which its mappings' entities are held by
// others, binding anyone to a default entity, or making a held entity the
// default.
func TestAdminChangesKeepEveryEntityWithOneOrganization(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Tickets", WorkersBindEntities: true}}); err != nil {
		t.Fatal(err)
	}
	f.bindEntity(t, "Halo", "org-b", "company-b")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	if _, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Tickets", EntityId: "company-b"}); err != nil {
		t.Fatal(err) // Tickets has no connection: its entities are its own
	}
	update := func(in *adminv1.Integration, path string) error {
		_, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{Integration: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}})
		return err
	}
	wantCode(t, update(&adminv1.Integration{Name: "Tickets", OauthConnection: "halo"}, "oauth_connection"), codes.FailedPrecondition)
	if got, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Tickets"}); err != nil || got.GetIntegration().GetOauth() != nil {
		t.Fatalf("Tickets after the refused link: %v, %v", got, err)
	}
	wantCode(t, update(&adminv1.Integration{Name: "Graph", DefaultEntityId: "company-b"}, "default_entity_id"), codes.OK) // graph: nobody holds it there
	wantCode(t, update(&adminv1.Integration{Name: "Halo", DefaultEntityId: "company-b"}, "default_entity_id"), codes.FailedPrecondition)
	_, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: "org-c", EntityId: "default-tenant"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "HaloDefault", OauthConnection: "halo", DefaultEntityId: "COMPANY-B"}})
	wantCode(t, err, codes.FailedPrecondition)
	if n := f.provider.EntityCalls("company-b"); n != 0 {
		t.Fatalf("%d token requests for org-b's company-b", n)
	}
}

// On PostgreSQL, transactions binding one entity on sibling integrations of a
// connection are serialized: at most one wins.
func TestBindingsOfOneEntityOnSiblingIntegrationsNeverBothWin(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "HaloTickets", OauthConnection: "halo", WorkersBindEntities: true}}); err != nil {
		t.Fatal(err)
	}
	f.letWorkersBindEntities(t, "Halo")
	workers := map[string]integrationsv1.IntegrationsServiceClient{
		"HaloTickets": f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")),
		"Halo":        f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-b")),
	}
	for i := range 20 {
		entity := fmt.Sprintf("company-%d", i)
		won := make(chan codes.Code, 2)
		var wg sync.WaitGroup
		for integration, w := range workers {
			wg.Go(func() {
				_, err := w.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: integration, EntityId: entity})
				won <- status.Code(err)
			})
		}
		wg.Wait()
		close(won)
		oks := 0
		for c := range won {
			if c == codes.OK {
				oks++
			} else if c != codes.AlreadyExists {
				t.Fatalf("binding %s: %v", entity, c)
			}
		}
		if oks != 1 {
			t.Fatalf("binding %s on sibling integrations: %d won, want 1", entity, oks)
		}
	}
}

// A client-credentials token is never minted for an entity another
// organization holds: one kept after its organization left the entity (an
// admin deleted the integration) is deleted instead of refreshed.
func TestAClientCredentialsTokenIsNotRefreshedOnceAnotherOrganizationHoldsItsEntity(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "HaloOld", OauthConnection: "halo"}}); err != nil {
		t.Fatal(err)
	}
	f.bindEntity(t, "HaloOld", "org-a", "co-old")
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "HaloOld"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "HaloOld"}); err != nil {
		t.Fatal(err)
	}
	f.bindEntity(t, "Halo", "org-b", "co-old")
	kept := f.tokenID(t, "halo", "org-a")
	before := f.provider.EntityCalls("co-old")
	if err := f.env.Refresher.RenewByID(ctx, kept); !errors.Is(err, store.ErrEntityOfAnother) {
		t.Fatalf("renewing org-a's token for co-old, now org-b's: %v", err)
	}
	if n := f.provider.EntityCalls("co-old") - before; n != 0 {
		t.Fatalf("%d token requests for co-old after org-b was bound to it", n)
	}
	_, err := f.admin.GetToken(ctx, &adminv1.GetTokenRequest{Id: kept})
	wantCode(t, err, codes.NotFound)
}

// An organization's own token is refreshed at the entity it is bound to, not
// at the default of a sibling integration it merely configured.
func TestAnOrganizationsTokenIsRefreshedAtTheEntityItIsBoundTo(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "AAGraph", OauthConnection: "graph", DefaultEntityId: "aa-default"}}); err != nil {
		t.Fatal(err)
	}
	f.bindEntity(t, "Graph", "org-a", "tenant-a")
	f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	if _, err := workerA.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "AAGraph"}); err != nil {
		t.Fatal(err)
	}
	if _, err := workerA.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	if a, d := f.provider.EntityCalls("tenant-a"), f.provider.EntityCalls("aa-default"); a != 1 || d != 0 {
		t.Fatalf("refreshes at tenant-a %d, at aa-default %d; want 1 and 0", a, d)
	}
}
