package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// Secrets the fixture stores; no response of the admin API and no log line may
// contain them.
const (
	clientSecret  = "client-secret-x9"
	globalAccess  = "global-access-token-a1"
	globalRefresh = "global-refresh-token-a2"
	orgAAccess    = "org-a-access-token-b1"
	defaultAPIKey = "default-api-key-c1"
	orgAAPIKey    = "org-a-api-key-c2"
)

type fixture struct {
	env   *testutil.Env
	admin adminv1.AdminServiceClient
}

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newFixture sets up Microsoft_Graph (OAuth, schema of every type, defaults with
// a secret, a global token and org-a's token) and Plain (no OAuth).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := testutil.Start(t)
	f := &fixture{env: env, admin: env.Admin(t)}
	ctx := context.Background()
	_, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: "client-1", ClientSecret: clientSecret,
		AuthorizationUrl: "https://login.example/authorize", TokenUrl: "https://login.example/{entity_id}/token",
		Scopes: []string{"User.Read", "offline_access"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name: "Microsoft_Graph", DefaultEntityId: "common", OauthConnection: "graph",
		ConfigSchema: []*adminv1.ConfigField{
			{Key: "tenant_id", Type: adminv1.ConfigType_CONFIG_TYPE_STRING},
			{Key: "page_size", Type: adminv1.ConfigType_CONFIG_TYPE_INT},
			{Key: "verbose", Type: adminv1.ConfigType_CONFIG_TYPE_BOOL},
			{Key: "extra", Type: adminv1.ConfigType_CONFIG_TYPE_JSON},
			{Key: "api_key", Type: adminv1.ConfigType_CONFIG_TYPE_SECRET},
		},
		DefaultConfig: mustStruct(t, map[string]any{"tenant_id": "default-tenant", "page_size": 100, "api_key": defaultAPIKey}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name:                "Plain",
		ConfigSchema:        []*adminv1.ConfigField{{Key: "url", Type: adminv1.ConfigType_CONFIG_TYPE_STRING}},
		WorkersBindEntities: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.putToken(t, "", globalAccess, globalRefresh)
	f.putToken(t, "org-a", orgAAccess, "")
	return f
}

func (f *fixture) putToken(t testing.TB, org, access, refresh string) *adminv1.Token {
	t.Helper()
	resp, err := f.admin.PutToken(context.Background(), &adminv1.PutTokenRequest{
		Connection: "graph", OrgId: org, AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetToken()
}

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != want {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, want)
	}
	return st
}

// wantField asserts INVALID_ARGUMENT with a BadRequest naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
		}
	}
	t.Fatalf("no BadRequest violation for %q in %v", field, st.Details())
}

func TestGetIntegrationMergesOrgOverridesOverDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	_, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{
		Name: "Microsoft_Graph", OrgId: "org-a", EntityId: "tenant-a", EntityName: "Acme",
		Config: mustStruct(t, map[string]any{"tenant_id": "acme-tenant", "verbose": true, "api_key": orgAAPIKey}),
	})
	if err != nil {
		t.Fatal(err)
	}
	worker := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	resp, err := worker.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetIntegration()
	if got.GetEntityId() != "tenant-a" || got.GetEntityName() != "Acme" || got.GetIntegrationName() != "Microsoft_Graph" {
		t.Fatalf("entity = %q %q", got.GetEntityId(), got.GetEntityName())
	}
	want := map[string]any{"tenant_id": "acme-tenant", "page_size": 100.0, "verbose": true, "api_key": orgAAPIKey}
	if fmt.Sprint(got.GetConfig().AsMap()) != fmt.Sprint(want) {
		t.Fatalf("config = %v, want %v", got.GetConfig().AsMap(), want)
	}
	if fmt.Sprint(got.GetConfigSecretKeys()) != "[api_key]" {
		t.Fatalf("config_secret_keys = %v", got.GetConfigSecretKeys())
	}
	o := got.GetOauth()
	if o.GetAccessToken() != orgAAccess || o.GetClientSecret() != "" || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED {
		t.Fatalf("oauth = %v; want the access token and no client secret", o)
	}
	all := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, ""))
	resp, err = all.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	if err != nil || resp.GetIntegration().GetOauth().GetClientSecret() != clientSecret {
		t.Fatalf("a key for every organization: %v, %v; want the client secret", resp.GetIntegration().GetOauth(), err)
	}
	if o.GetExpiresAt() == nil || o.GetConnectionName() != "graph" || o.GetTokenUrl() != "https://login.example/tenant-a/token" {
		t.Fatalf("oauth = %v", o)
	}
}

func TestUpsertNullRemovesOverrideSoDefaultShowsAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	upsert := func(cfg map[string]any) *integrationsv1.IntegrationMapping {
		t.Helper()
		resp, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, cfg)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetMapping()
	}
	upsert(map[string]any{"tenant_id": "override", "page_size": 5})
	m := upsert(map[string]any{"tenant_id": nil, "verbose": false})
	if got := fmt.Sprint(m.GetConfig().AsMap()); got != "map[page_size:5 verbose:false]" {
		t.Fatalf("overrides after patch = %s", got)
	}
	resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := resp.GetIntegration().GetConfig().AsMap()
	if cfg["tenant_id"] != "default-tenant" || cfg["page_size"] != 5.0 || cfg["verbose"] != false {
		t.Fatalf("merged config = %v", cfg)
	}
	if _, ok := cfg["extra"]; ok {
		t.Fatal("a key absent on both sides appears in the merged config")
	}
}

func TestGetIntegrationWithoutMappingOrWithGlobalScopeReturnsDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", EntityId: "tenant-a", Config: mustStruct(t, map[string]any{"tenant_id": "acme"})}); err != nil {
		t.Fatal(err)
	}
	workerA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	cases := []struct {
		name       string
		client     integrationsv1.IntegrationsServiceClient
		req        *integrationsv1.GetIntegrationRequest
		wantEntity string
		wantTenant string
		wantToken  string
	}{
		{"org without mapping gets defaults and global token", c, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-b"}, "common", "default-tenant", globalAccess},
		{"global scope ignores the org's mapping and token", c, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a", Scope: "global"}, "common", "default-tenant", globalAccess},
		{"bound worker with global scope", workerA, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", Scope: "global"}, "common", "default-tenant", globalAccess},
		{"key bound to no org without org_id gets defaults", c, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"}, "common", "default-tenant", globalAccess},
		{"org with mapping", c, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"}, "tenant-a", "acme", orgAAccess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.GetIntegration(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.GetIntegration()
			if got.GetEntityId() != tc.wantEntity || got.GetConfig().AsMap()["tenant_id"] != tc.wantTenant || got.GetOauth().GetAccessToken() != tc.wantToken {
				t.Fatalf("entity %q tenant %v token %q; want %q %q %q", got.GetEntityId(), got.GetConfig().AsMap()["tenant_id"], got.GetOauth().GetAccessToken(), tc.wantEntity, tc.wantTenant, tc.wantToken)
			}
		})
	}
}

func TestTokenChoiceMappingTokenThenOrgTokenThenGlobal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	// An admin points org-a's mapping at the global token, in place of org-a's own.
	global := f.putToken(t, "", globalAccess, globalRefresh)
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", OauthTokenId: global.GetId()}); err != nil {
		t.Fatal(err)
	}
	for org, want := range map[string]string{"org-a": globalAccess, "org-z": globalAccess} {
		resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: org})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetIntegration().GetOauth().GetAccessToken(); got != want {
			t.Errorf("org %s: token %q, want %q", org, got, want)
		}
	}
	if _, err := f.admin.DeleteToken(ctx, &adminv1.DeleteTokenRequest{Id: global.GetId()}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetIntegration().GetOauth().GetAccessToken(); got != orgAAccess {
		t.Fatalf("after deleting the mapping's token: %q, want the org's", got)
	}
}

func TestOAuthAbsentWithoutConnectionAndNotConnectedWithoutToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetIntegration().GetOauth() != nil {
		t.Fatal("oauth present for an integration without connection")
	}
	tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{Connection: "graph"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens.GetTokens() {
		if _, err := f.admin.DeleteToken(ctx, &adminv1.DeleteTokenRequest{Id: tok.GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err = c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetIntegration().GetOauth()
	if o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_NOT_CONNECTED || o.GetAccessToken() != "" || o.GetClientId() != "client-1" {
		t.Fatalf("oauth without token = %v", o)
	}
}

func TestBadRequestsGetInvalidArgumentNamingTheField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	big := strings.Repeat("x", 70<<10)
	nulKeyToken := base64.RawURLEncoding.EncodeToString([]byte(`{"a":"org\u0000x"}`))
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"empty name", func() error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{})
			return err
		}, "name"},
		{"name with a slash", func() error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "a/b"})
			return err
		}, "name"},
		{"unknown scope", func() error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", Scope: "everything"})
			return err
		}, "scope"},
		{"negative min_validity", func() error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", MinValidity: durationpb.New(-time.Second)})
			return err
		}, "min_validity"},
		{"bad org id", func() error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: "org a"})
			return err
		}, "org_id"},
		{"config value of the wrong type", func() error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"page_size": "ten"})})
			return err
		}, "config.page_size"},
		{"config key not in schema", func() error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"nope": 1})})
			return err
		}, "config.nope"},
		{"config over 64 KiB", func() error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"tenant_id": big})})
			return err
		}, "config"},
		{"upsert without org by a key bound to none", func() error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph"})
			return err
		}, "org_id"},
		{"negative page size", func() error {
			_, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Microsoft_Graph", PageSize: -1})
			return err
		}, "page_size"},
		{"forged page token", func() error {
			_, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Microsoft_Graph", PageToken: "not-a-token"})
			return err
		}, "page_token"},
		// PostgreSQL refuses a NUL byte in text: the key must not reach a query.
		{"page token whose sort key holds a NUL byte", func() error {
			_, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Microsoft_Graph", PageToken: nulKeyToken})
			return err
		}, "page_token"},
		{"admin page token whose sort key holds a NUL byte", func() error {
			_, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{PageToken: nulKeyToken})
			return err
		}, "page_token"},
		{"audit page token holding an event ID, as tokens did before the log was numbered", func() error {
			idToken := base64.RawURLEncoding.EncodeToString([]byte(`{"a":"0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e"}`))
			_, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{PageToken: idToken})
			return err
		}, "page_token"},
		{"default of the wrong type", func() error {
			_, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
				Integration: &adminv1.Integration{Name: "Microsoft_Graph", DefaultConfig: mustStruct(t, map[string]any{"verbose": "yes"})},
				UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"default_config"}},
			})
			return err
		}, "integration.default_config.verbose"},
		{"unknown update mask path", func() error {
			_, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
				Integration: &adminv1.Integration{Name: "Microsoft_Graph"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"id"}},
			})
			return err
		}, "update_mask"},
		{"connection without token url", func() error {
			_, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{Name: "x", Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: "c"}})
			return err
		}, "connection.token_url"},
		{"worker key without org", func() error {
			_, err := f.admin.CreateApiKey(ctx, &adminv1.CreateApiKeyRequest{Role: adminv1.Role_ROLE_WORKER})
			return err
		}, "org_id"},
		{"audit time range ending before it starts", func() error {
			start := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
			_, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(-time.Hour))})
			return err
		}, "end_time"},
		{"audit start time out of range", func() error {
			_, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{StartTime: &timestamppb.Timestamp{Seconds: -1 << 62}})
			return err
		}, "start_time"},
		{"schema with an unknown type", func() error {
			_, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Bad", ConfigSchema: []*adminv1.ConfigField{{Key: "k"}}}})
			return err
		}, "integration.config_schema[0].type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantField(t, tc.call(), tc.field)
		})
	}
	// Nothing above was half-written.
	m, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Microsoft_Graph"})
	if err != nil || len(m.GetMappings()) != 0 {
		t.Fatalf("mappings after rejected writes: %v, %v", m.GetMappings(), err)
	}
}

func TestOversizedRequestIsRefusedBeforeReachingAHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.env.Integrations(t, f.env.AdminKey).GetIntegration(context.Background(),
		&integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: strings.Repeat("o", 2<<20)})
	wantCode(t, err, codes.ResourceExhausted)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	req := &integrationsv1.GetIntegrationRequest{Name: "Plain"}
	_, err := f.env.Integrations(t, "").GetIntegration(ctx, req)
	wantCode(t, err, codes.Unauthenticated)
	_, err = f.env.Integrations(t, "bfk_not-a-real-key").GetIntegration(ctx, req)
	wantCode(t, err, codes.Unauthenticated)

	key := f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, "")
	c := f.env.Integrations(t, key)
	if _, err := c.GetIntegration(ctx, req); err != nil {
		t.Fatal(err)
	}
	keys, err := f.admin.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := keys.GetApiKeys()[len(keys.GetApiKeys())-1]
	if _, err := f.admin.RevokeApiKey(ctx, &adminv1.RevokeApiKeyRequest{Id: last.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetIntegration(ctx, req)
	wantCode(t, err, codes.Unauthenticated)

	health := healthpb.NewHealthClient(f.env.Conn(t, ""))
	hr, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a key: %v, %v", hr, err)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	workerA := f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")
	allOrgs := f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, "")
	cases := []struct {
		name string
		key  string
		call func(c integrationsv1.IntegrationsServiceClient, a adminv1.AdminServiceClient) error
		want codes.Code
	}{
		{"worker reads own org", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: "org-a"})
			return err
		}, codes.OK},
		{"worker reads other org", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: "org-b"})
			return err
		}, codes.PermissionDenied},
		{"worker writes other org", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-b"})
			return err
		}, codes.PermissionDenied},
		{"worker deletes other org", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Plain", OrgId: "org-b"})
			return err
		}, codes.PermissionDenied},
		{"worker gets other org's mapping", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-b"})
			return err
		}, codes.PermissionDenied},
		{"worker writes own org", workerA, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", EntityId: "e"})
			return err
		}, codes.OK},
		{"worker calls admin", workerA, func(_ integrationsv1.IntegrationsServiceClient, a adminv1.AdminServiceClient) error {
			_, err := a.ListIntegrations(ctx, &adminv1.ListIntegrationsRequest{})
			return err
		}, codes.PermissionDenied},
		{"all-orgs worker reads any org", allOrgs, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: "org-b"})
			return err
		}, codes.OK},
		{"all-orgs worker calls admin", allOrgs, func(_ integrationsv1.IntegrationsServiceClient, a adminv1.AdminServiceClient) error {
			_, err := a.CreateApiKey(ctx, &adminv1.CreateApiKeyRequest{Role: adminv1.Role_ROLE_ADMIN})
			return err
		}, codes.PermissionDenied},
		{"unknown integration", allOrgs, func(c integrationsv1.IntegrationsServiceClient, _ adminv1.AdminServiceClient) error {
			_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Nope", OrgId: "org-b"})
			return err
		}, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := f.env.Conn(t, tc.key)
			err := tc.call(integrationsv1.NewIntegrationsServiceClient(conn), adminv1.NewAdminServiceClient(conn))
			wantCode(t, err, tc.want)
		})
	}
}
