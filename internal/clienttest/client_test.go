package clienttest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/client"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

func newClient(t *testing.T, env *testutil.Env, key string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithAPIKey(key), client.WithInsecure(), client.WithDialOptions(grpc.WithContextDialer(env.Dialer()))}, opts...)
	c, err := client.New("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func seed(t *testing.T, env *testutil.Env) {
	t.Helper()
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "halo", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: "cid", ClientSecret: "csecret",
		AuthorizationUrl: "https://halo.example/authorize", TokenUrl: "https://halo.example/token",
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name: "HaloPSA", OauthConnection: "halo", DefaultEntityId: "0", WorkersBindEntities: true,
		ConfigSchema: []*adminv1.ConfigField{{Key: "custom_field", Type: adminv1.ConfigType_CONFIG_TYPE_STRING}, {Key: "site", Type: adminv1.ConfigType_CONFIG_TYPE_STRING}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "halo", AccessToken: "halo-access", ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
}

func TestClientCoversTheSDKPage(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	seed(t, env)
	ctx := context.Background()
	c := newClient(t, env, env.AdminKey)

	if got, err := c.Get(ctx, "Missing"); got != nil || err != nil {
		t.Fatalf("Get of an unknown integration = %v, %v; want nil, nil", got, err)
	}
	m, err := c.UpsertMapping(ctx, "HaloPSA", client.Upsert{OrgID: "org-123", EntityID: "tenant-456", EntityName: "Acme Corp", Config: map[string]any{"custom_field": "value"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.OrganizationID != "org-123" || m.EntityID != "tenant-456" || m.Config["custom_field"] != "value" || m.CreatedAt.IsZero() {
		t.Fatalf("UpsertMapping = %+v", m)
	}
	got, err := c.Get(ctx, "HaloPSA", client.ForOrg("org-123"))
	if err != nil {
		t.Fatal(err)
	}
	if got.EntityID != "tenant-456" || got.EntityName != "Acme Corp" || got.Config["custom_field"] != "value" {
		t.Fatalf("Get = %+v", got)
	}
	if got.OAuth == nil || got.OAuth.AccessToken != "halo-access" || got.OAuth.ClientSecret != "csecret" || got.OAuth.ExpiresAt == nil || got.OAuth.Status != client.StatusConnected {
		t.Fatalf("Get OAuth = %+v", got.OAuth)
	}
	global, err := c.Get(ctx, "HaloPSA", client.ForOrg("org-123"), client.Global())
	if err != nil || global.EntityID != "0" || len(global.Config) != 0 {
		t.Fatalf("Get global = %+v, %v", global, err)
	}
	list, err := c.ListMappings(ctx, "HaloPSA")
	if err != nil || len(list) != 1 || list[0].OrganizationID != "org-123" {
		t.Fatalf("ListMappings = %+v, %v", list, err)
	}
	byEntity, err := c.GetMapping(ctx, "HaloPSA", client.ForEntity("tenant-456"))
	if err != nil || byEntity == nil || byEntity.OrganizationID != "org-123" {
		t.Fatalf("GetMapping by entity = %+v, %v", byEntity, err)
	}
	if none, err := c.GetMapping(ctx, "HaloPSA", client.ForOrg("org-999")); none != nil || err != nil {
		t.Fatalf("GetMapping of an org without one = %+v, %v; want nil, nil", none, err)
	}
	for _, want := range []bool{true, false} {
		if deleted, err := c.DeleteMapping(ctx, "HaloPSA", "org-123"); deleted != want || err != nil {
			t.Fatalf("DeleteMapping = %v, %v; want %v", deleted, err, want)
		}
	}
}

func TestClientDefaultsToTheKeysOrgAndReportsErrors(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	seed(t, env)
	ctx := context.Background()
	worker := newClient(t, env, env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	if _, err := worker.UpsertMapping(ctx, "HaloPSA", client.Upsert{EntityID: "e-a"}); err != nil {
		t.Fatal(err)
	}
	got, err := worker.Get(ctx, "HaloPSA")
	if err != nil || got.EntityID != "e-a" {
		t.Fatalf("Get with the key's org = %+v, %v", got, err)
	}
	_, err = worker.Get(ctx, "HaloPSA", client.ForOrg("org-b"))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("other org: %v, want PERMISSION_DENIED", err)
	}
	withOrg := newClient(t, env, env.AdminKey, client.WithOrg("org-a"))
	if got, err := withOrg.Get(ctx, "HaloPSA"); err != nil || got.EntityID != "e-a" {
		t.Fatalf("Get with WithOrg = %+v, %v", got, err)
	}
}

func TestOAuthCredentialsNeverPrintSecrets(t *testing.T) {
	t.Parallel()
	o := client.OAuthCredentials{ConnectionName: "graph", ClientSecret: "cs-1", AccessToken: "at-1", RefreshToken: "rt-1"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("creds", "oauth", o)
	for _, out := range []string{fmt.Sprint(o), fmt.Sprintf("%v %+v", o, &o), logged.String()} {
		for _, secret := range []string{"cs-1", "at-1", "rt-1"} {
			if strings.Contains(out, secret) {
				t.Fatalf("%q leaks %q", out, secret)
			}
		}
	}
}
