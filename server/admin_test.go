package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/server"
	"github.com/bifrost/integrations/store"
)

func TestAdminResponsesNeverContainSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var responses []proto.Message
	collect := func(m proto.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, m)
	}
	collect(f.admin.GetIntegration(ctx, &adminv1.GetIntegrationRequest{Name: "Microsoft_Graph"}))
	collect(f.admin.ListIntegrations(ctx, &adminv1.ListIntegrationsRequest{}))
	collect(f.admin.GetConnection(ctx, &adminv1.GetConnectionRequest{Name: "graph"}))
	collect(f.admin.ListConnections(ctx, &adminv1.ListConnectionsRequest{}))
	collect(f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{}))
	for _, m := range responses {
		text := protojson.Format(m)
		for _, secret := range []string{clientSecret, globalAccess, globalRefresh, orgAAccess, defaultAPIKey} {
			if strings.Contains(text, secret) {
				t.Errorf("%T contains secret %q", m, secret)
			}
		}
	}
	in := responses[0].(*adminv1.GetIntegrationResponse).GetIntegration()
	if len(in.GetDefaultSecretKeys()) != 1 || in.GetDefaultSecretKeys()[0] != "api_key" || in.GetDefaultConfig().AsMap()["tenant_id"] != "default-tenant" {
		t.Fatalf("integration = %v", in)
	}
	if !responses[2].(*adminv1.GetConnectionResponse).GetConnection().GetClientSecretSet() {
		t.Fatal("client_secret_set is false")
	}
}

func TestUpdateIntegrationChangesOnlyMaskedFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	resp, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
		Integration: &adminv1.Integration{
			Name: "Microsoft_Graph", Description: "Graph API", DefaultEntityId: "ignored",
			DefaultConfig: mustStruct(t, map[string]any{"page_size": nil, "verbose": true}),
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description", "default_config"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := resp.GetIntegration()
	cfg := in.GetDefaultConfig().AsMap()
	if in.GetDescription() != "Graph API" || in.GetDefaultEntityId() != "common" || cfg["verbose"] != true || cfg["page_size"] != nil || cfg["tenant_id"] != "default-tenant" {
		t.Fatalf("after update: %v", in)
	}
	if _, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
		Integration: &adminv1.Integration{Name: "Microsoft_Graph"},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"oauth_connection"}},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := f.env.Integrations(t, f.env.AdminKey).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"})
	if err != nil || got.GetIntegration().GetOauth() != nil {
		t.Fatalf("after unlinking the connection: %v, %v", got, err)
	}
	_, err = f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
		Integration: &adminv1.Integration{Name: "Nope", Description: "x"},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	})
	wantCode(t, err, codes.NotFound)
}

func TestConnectionKeepsTheRefreshMarginGivenEvenZero(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		margin *durationpb.Duration
		want   time.Duration
	}{
		{"none given takes the default", nil, 5 * time.Minute},
		{"zero refreshes only expired tokens", durationpb.New(0), 0},
		{"a minute", durationpb.New(time.Minute), time.Minute},
	}
	for i, tc := range cases {
		created, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
			Name: fmt.Sprintf("margin-%d", i), Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: "c", ClientSecret: "s",
			TokenUrl: "https://x.example/token", RefreshMargin: tc.margin,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := created.GetConnection().GetRefreshMargin().AsDuration(); got != tc.want {
			t.Errorf("%s: refresh margin %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestConnectionLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: "c", TokenUrl: "https://x.example/token",
	}})
	wantCode(t, err, codes.AlreadyExists)

	updated, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
		Connection: &adminv1.Connection{Name: "graph", RefreshMargin: durationpb.New(10 * time.Minute), ClientSecret: "rotated-secret"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"refresh_margin", "client_secret"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := updated.GetConnection()
	if c.GetRefreshMargin().AsDuration() != 10*time.Minute || c.GetClientId() != "client-1" || c.GetClientSecret() != "" ||
		c.GetTokenAuthMethod() != adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_BASIC {
		t.Fatalf("after update: %v", c)
	}
	got, err := f.env.Integrations(t, f.env.AdminKey).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"})
	if err != nil || got.GetIntegration().GetOauth().GetClientSecret() != "rotated-secret" {
		t.Fatalf("workflow view after secret rotation: %v, %v", got, err)
	}
	_, err = f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
		Connection: &adminv1.Connection{Name: "graph", TokenUrl: "ftp://nope"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_url"}},
	})
	wantField(t, err, "connection.token_url")
	for method, wantErr := range map[adminv1.TokenAuthMethod]bool{
		adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_POST: false, adminv1.TokenAuthMethod(99): true,
	} {
		updated, err = f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
			Connection: &adminv1.Connection{Name: "graph", TokenAuthMethod: method},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_auth_method"}},
		})
		if wantErr {
			wantField(t, err, "connection.token_auth_method")
		} else if err != nil || updated.GetConnection().GetTokenAuthMethod() != method {
			t.Fatalf("token auth method %v: %v, %v", method, updated, err)
		}
	}

	_, err = f.admin.DeleteConnection(ctx, &adminv1.DeleteConnectionRequest{Name: "graph"})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := f.admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "Microsoft_Graph"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.DeleteConnection(ctx, &adminv1.DeleteConnectionRequest{Name: "graph"}); err != nil {
		t.Fatal(err)
	}
	tokens, err := f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
	if err != nil || len(tokens.GetTokens()) != 0 {
		t.Fatalf("tokens outlived their connection: %v, %v", tokens, err)
	}
	_, err = f.admin.GetConnection(ctx, &adminv1.GetConnectionRequest{Name: "graph"})
	wantCode(t, err, codes.NotFound)
}

func TestPutTokenReplacesInPlaceAndBumpsVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.putToken(t, "org-q", "a1", "r1")
	second := f.putToken(t, "org-q", "a2", "")
	if first.GetId() != second.GetId() || second.GetVersion() != first.GetVersion()+1 {
		t.Fatalf("put twice: %v then %v", first, second)
	}
	if second.GetHasRefreshToken() || second.GetStatus() != adminv1.TokenStatus_TOKEN_STATUS_CONNECTED || second.GetOrgId() != "org-q" {
		t.Fatalf("second token: %v", second)
	}
	_, err := f.admin.PutToken(context.Background(), &adminv1.PutTokenRequest{Connection: "nope", AccessToken: "x"})
	wantCode(t, err, codes.NotFound)
}

func TestListIntegrationsPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.admin.ListIntegrations(ctx, &adminv1.ListIntegrationsRequest{PageSize: 1})
	if err != nil || len(first.GetIntegrations()) != 1 || first.GetIntegrations()[0].GetName() != "Microsoft_Graph" || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	second, err := f.admin.ListIntegrations(ctx, &adminv1.ListIntegrationsRequest{PageSize: 1, PageToken: first.GetNextPageToken()})
	if err != nil || len(second.GetIntegrations()) != 1 || second.GetIntegrations()[0].GetName() != "Plain" {
		t.Fatalf("second page: %v, %v", second, err)
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"api_key": orgAAPIKey})}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"page_size": orgAAPIKey})})
	_, _ = f.env.Integrations(t, "bfk_wrong").GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "x"})
	logs := f.env.Logs.String()
	if !strings.Contains(logs, "GetIntegration") {
		t.Fatalf("the server logged no calls: %q", logs)
	}
	for _, secret := range []string{clientSecret, globalAccess, globalRefresh, orgAAccess, defaultAPIKey, orgAAPIKey, f.env.AdminKey, "bfk_wrong"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain secret %q", secret)
		}
	}
}

func TestFirstAdminKeyIsStoredOnlyOnceItWasKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // has keys already: no first key is minted
	ctx := context.Background()
	created, err := server.CreateFirstAdminKey(ctx, f.env.Store, func(string) error { return nil })
	if created || err != nil {
		t.Fatalf("on an installation with keys: created %v, %v", created, err)
	}

	s, err := store.Open(ctx, testdb.Database(t), testutil.Keyring(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lost := errors.New("disk full")
	if created, err := server.CreateFirstAdminKey(ctx, s, func(string) error { return lost }); created || !errors.Is(err, lost) {
		t.Fatalf("when the secret cannot be kept: created %v, %v", created, err)
	}
	var kept string
	created, err = server.CreateFirstAdminKey(ctx, s, func(secret string) error { kept = secret; return nil })
	if !created || err != nil || !strings.HasPrefix(kept, "bfk_") {
		t.Fatalf("after the failed attempt: created %v, %v, a key-shaped secret kept: %v", created, err, strings.HasPrefix(kept, "bfk_"))
	}
}
