package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// The organization a call is about, from the point of view of a worker of org-a.
type orgCase int

const (
	ownOrg orgCase = iota
	otherOrg
	global
)

func (o orgCase) id() string { return [...]string{"org-a", "org-b", ""}[o] }

func (o orgCase) String() string { return [...]string{"own org", "other org", "global"}[o] }

type callers struct {
	api   integrationsv1.IntegrationsServiceClient
	admin adminv1.AdminServiceClient
}

// matrixRPC is one RPC of either service. u makes names unique per cell;
// setup, run with the admin key before the cell, creates what the call needs.
type matrixRPC struct {
	name  string
	setup func(t *testing.T, f *fixture, o orgCase, u string)
	call  func(ctx context.Context, c callers, o orgCase, u string) error
	// want holds the codes for admin, worker of org-a and all-orgs worker in
	// each orgCase; nil for AdminService (OK for admin, PERMISSION_DENIED for
	// workers).
	want map[string][3]codes.Code
}

var (
	ok  = codes.OK
	pd  = codes.PermissionDenied
	inv = codes.InvalidArgument
	fp  = codes.FailedPrecondition
	nf  = codes.NotFound
)

func upsertFor(t *testing.T, f *fixture, org string) {
	t.Helper()
	if org == "" {
		return
	}
	if _, err := f.env.Integrations(t, f.env.AdminKey).UpsertMapping(context.Background(), &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: org, EntityId: "e-" + org}); err != nil {
		t.Fatal(err)
	}
}

func integrationFor(t *testing.T, f *fixture, _ orgCase, u string) {
	t.Helper()
	if _, err := f.admin.CreateIntegration(context.Background(), &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "I" + u}}); err != nil {
		t.Fatal(err)
	}
}

func connectionFor(t *testing.T, f *fixture, _ orgCase, u string) {
	t.Helper()
	if _, err := f.admin.CreateConnection(context.Background(), &adminv1.CreateConnectionRequest{Connection: connection("C" + u)}); err != nil {
		t.Fatal(err)
	}
}

func connection(name string) *adminv1.Connection {
	return &adminv1.Connection{Name: name, Flow: adminv1.Flow_FLOW_CLIENT_CREDENTIALS, ClientId: "c", TokenUrl: "https://x.example/token"}
}

var matrix = []matrixRPC{
	{name: "GetIntegration", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		req := &integrationsv1.GetIntegrationRequest{Name: "Plain", OrgId: o.id()}
		if o == global {
			req.Scope = "global"
		}
		_, err := c.api.GetIntegration(ctx, req)
		return err
	}, want: map[string][3]codes.Code{"admin": {ok, ok, ok}, "worker": {ok, pd, ok}, "all": {ok, ok, ok}}},
	{name: "ListMappings", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.api.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Plain"})
		return err
	}, want: map[string][3]codes.Code{"admin": {ok, ok, ok}, "worker": {ok, ok, ok}, "all": {ok, ok, ok}}},
	{name: "GetMapping", setup: func(t *testing.T, f *fixture, o orgCase, _ string) { upsertFor(t, f, o.id()); upsertFor(t, f, "org-a") },
		call: func(ctx context.Context, c callers, o orgCase, _ string) error {
			_, err := c.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: o.id()})
			return err
		}, want: map[string][3]codes.Code{"admin": {ok, ok, inv}, "worker": {ok, pd, ok}, "all": {ok, ok, inv}}},
	{name: "UpsertMapping", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		_, err := c.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: o.id(), EntityId: "e" + o.id()})
		return err
	}, want: map[string][3]codes.Code{"admin": {ok, ok, inv}, "worker": {ok, pd, ok}, "all": {ok, ok, inv}}},
	{name: "DeleteMapping", setup: func(t *testing.T, f *fixture, o orgCase, _ string) { upsertFor(t, f, o.id()) },
		call: func(ctx context.Context, c callers, o orgCase, _ string) error {
			_, err := c.api.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Plain", OrgId: o.id()})
			return err
		}, want: map[string][3]codes.Code{"admin": {ok, ok, inv}, "worker": {ok, pd, ok}, "all": {ok, ok, inv}}},

	{name: "CreateIntegration", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "I" + u}})
		return err
	}},
	{name: "GetIntegration (admin)", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.GetIntegration(ctx, &adminv1.GetIntegrationRequest{Name: "Plain"})
		return err
	}},
	{name: "ListIntegrations", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.ListIntegrations(ctx, &adminv1.ListIntegrationsRequest{})
		return err
	}},
	{name: "UpdateIntegration", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
			Integration: &adminv1.Integration{Name: "Plain", Description: u}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
		return err
	}},
	{name: "DeleteIntegration", setup: integrationFor, call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "I" + u})
		return err
	}},
	{name: "CreateConnection", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: connection("C" + u)})
		return err
	}},
	{name: "GetConnection", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.GetConnection(ctx, &adminv1.GetConnectionRequest{Name: "graph"})
		return err
	}},
	{name: "ListConnections", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.ListConnections(ctx, &adminv1.ListConnectionsRequest{})
		return err
	}},
	{name: "UpdateConnection", setup: connectionFor, call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{
			Connection: &adminv1.Connection{Name: "C" + u, Audience: "a"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"audience"}}})
		return err
	}},
	{name: "DeleteConnection", setup: connectionFor, call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.DeleteConnection(ctx, &adminv1.DeleteConnectionRequest{Name: "C" + u})
		return err
	}},
	{name: "PutToken", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		_, err := c.admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: o.id(), AccessToken: "a"})
		return err
	}},
	{name: "GetToken", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		list, err := c.admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
		if err != nil {
			return err
		}
		_, err = c.admin.GetToken(ctx, &adminv1.GetTokenRequest{Id: list.GetTokens()[0].GetId()})
		return err
	}},
	{name: "ListTokens", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
		return err
	}},
	{name: "DeleteToken", setup: func(t *testing.T, f *fixture, _ orgCase, u string) { f.putToken(t, "org-del-"+u, "x", "") },
		call: func(ctx context.Context, c callers, _ orgCase, u string) error {
			list, err := c.admin.ListTokens(ctx, &adminv1.ListTokensRequest{})
			for _, tok := range list.GetTokens() {
				if tok.GetOrgId() == "org-del-"+u {
					_, err = c.admin.DeleteToken(ctx, &adminv1.DeleteTokenRequest{Id: tok.GetId()})
				}
			}
			return err
		}},
	{name: "StartAuthorization", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		_, err := c.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: o.id(), Global: o == global})
		return err
	}},
	{name: "ConnectClientCredentials", setup: connectionFor, call: func(ctx context.Context, c callers, o orgCase, u string) error {
		_, err := c.admin.ConnectClientCredentials(ctx, &adminv1.ConnectClientCredentialsRequest{Connection: "C" + u, OrgId: o.id(), Global: o == global})
		return err
	}, // The test connection's provider cannot be reached: the admin is told so.
		want: map[string][3]codes.Code{"admin": {fp, fp, fp}, "worker": {pd, pd, pd}, "all": {pd, pd, pd}}},
	{name: "GetAuthorization", setup: func(t *testing.T, f *fixture, _ orgCase, u string) {
		sum := sha256.Sum256([]byte("state-" + u))
		if err := f.env.Store.CreateAuthState(context.Background(), store.AuthState{StateHash: sum[:], ConnectionName: "graph", OrgID: "org-a",
			Verifier: "v", RedirectURI: "http://127.0.0.1/oauth/callback", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}, call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.GetAuthorization(ctx, &adminv1.GetAuthorizationRequest{State: "state-" + u})
		return err
	}},
	{name: "CreateApiKey", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		role := adminv1.Role_ROLE_WORKER
		if o == global {
			role = adminv1.Role_ROLE_WORKER_ALL_ORGS
		}
		_, err := c.admin.CreateApiKey(ctx, &adminv1.CreateApiKeyRequest{Role: role, OrgId: o.id()})
		return err
	}},
	{name: "ListApiKeys", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{})
		return err
	}},
	{name: "RevokeApiKey", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		keys, err := c.admin.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{})
		if err != nil {
			return err
		}
		_, err = c.admin.RevokeApiKey(ctx, &adminv1.RevokeApiKeyRequest{Id: keys.GetApiKeys()[len(keys.GetApiKeys())-1].GetId()})
		return err
	}},
	{name: "RotateEncryptionKey", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{})
		return err
	}},
	{name: "GetEncryptionStatus", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
		return err
	}},
	{name: "RetireEncryptionKey", setup: func(t *testing.T, f *fixture, _ orgCase, _ string) {
		ctx := context.Background()
		if _, err := f.env.Keys.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.env.Keys.ReencryptAll(ctx); err != nil {
			t.Fatal(err)
		}
	}, call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		// The admin's status call names a retirable key; other callers are
		// refused already there, as they would be by the retire call itself.
		st, err := c.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
		if err != nil {
			_, retireErr := c.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: 1})
			return retireErr
		}
		_, err = c.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: st.GetKeys()[0].GetId()})
		return err
	}},
	{name: "ListAuditEvents", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		_, err := c.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{OrgId: o.id(), StartTime: timestamppb.New(time.Now().Add(-time.Hour))})
		return err
	}},
	{name: "WatchEvents", call: func(ctx context.Context, c callers, o orgCase, _ string) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.api.WatchEvents(ctx, &integrationsv1.WatchEventsRequest{OrgId: o.id()})
		if err == nil {
			_, err = stream.Recv()
		}
		return err
	}, want: map[string][3]codes.Code{"admin": {ok, ok, ok}, "worker": {ok, pd, ok}, "all": {ok, ok, ok}}},
	{name: "CreateWebhook", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: "https://hooks.example/" + u})
		return err
	}},
	{name: "ListWebhooks", call: func(ctx context.Context, c callers, _ orgCase, _ string) error {
		_, err := c.admin.ListWebhooks(ctx, &adminv1.ListWebhooksRequest{})
		return err
	}},
	// The calls naming a webhook or delivery name none: an admin learns it
	// does not exist, a worker is refused before anything is looked up.
	{name: "DeleteWebhook", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.DeleteWebhook(ctx, &adminv1.DeleteWebhookRequest{Id: "w" + u})
		return err
	}, want: webhookCodes},
	{name: "SendTestWebhook", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.SendTestWebhook(ctx, &adminv1.SendTestWebhookRequest{Id: "w" + u})
		return err
	}, want: webhookCodes},
	{name: "ListWebhookDeliveries", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: "w" + u})
		return err
	}, want: webhookCodes},
	{name: "RedeliverWebhook", call: func(ctx context.Context, c callers, _ orgCase, u string) error {
		_, err := c.admin.RedeliverWebhook(ctx, &adminv1.RedeliverWebhookRequest{DeliveryId: "d" + u})
		return err
	}, want: webhookCodes},
}

var webhookCodes = map[string][3]codes.Code{"admin": {nf, nf, nf}, "worker": {pd, pd, pd}, "all": {pd, pd, pd}}

// TestAuthorizationMatrix calls every RPC of both services as every kind of
// caller about every kind of organization and asserts the exact code.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	revoked := f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, "")
	keys, err := f.admin.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RevokeApiKey(ctx, &adminv1.RevokeApiKeyRequest{Id: keys.GetApiKeys()[len(keys.GetApiKeys())-1].GetId()}); err != nil {
		t.Fatal(err)
	}
	principals := []struct{ name, key string }{
		{"none", ""},
		{"revoked", revoked},
		{"admin", f.env.AdminKey},
		{"worker", f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")},
		{"all", f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, "")},
	}
	n := 0
	for _, rpc := range matrix {
		for _, p := range principals {
			conn := f.env.Conn(t, p.key)
			c := callers{api: integrationsv1.NewIntegrationsServiceClient(conn), admin: adminv1.NewAdminServiceClient(conn)}
			for _, o := range []orgCase{ownOrg, otherOrg, global} {
				n++
				u := fmt.Sprint(n)
				want := codes.Unauthenticated
				switch {
				case p.name == "none" || p.name == "revoked":
				case rpc.want != nil:
					want = rpc.want[p.name][o]
				case p.name == "admin":
					want = codes.OK
				default:
					want = codes.PermissionDenied
				}
				if rpc.setup != nil {
					rpc.setup(t, f, o, u)
				}
				t.Run(fmt.Sprintf("%s/%s/%s", rpc.name, p.name, o), func(t *testing.T) {
					wantCode(t, rpc.call(ctx, c, o, u), want)
				})
			}
		}
	}
	var covered, served []string
	for _, rpc := range matrix {
		covered = append(covered, strings.Fields(rpc.name)[0]) // "GetIntegration (admin)" is AdminService's
	}
	for _, desc := range []grpc.ServiceDesc{integrationsv1.IntegrationsService_ServiceDesc, adminv1.AdminService_ServiceDesc} {
		for _, m := range desc.Methods {
			served = append(served, m.MethodName)
		}
		for _, st := range desc.Streams {
			served = append(served, st.StreamName)
		}
	}
	slices.Sort(covered)
	slices.Sort(served)
	if !slices.Equal(covered, served) {
		t.Fatalf("the matrix covers %v; the services serve %v", covered, served)
	}
}

// A refused key is told why in words said once: "unknown api key", not
// "unknown api key: unauthenticated" after a code that already says so.
func TestAuthenticationRefusalsSayTheirReasonOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct{ name, key, want string }{
		{"no key", "", "expected authorization: Bearer <api key>"},
		{"malformed key", "not-a-key", "malformed api key"},
		{"unknown key", "bfk_" + strings.Repeat("A", 43), "unknown api key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := adminv1.NewAdminServiceClient(f.env.Conn(t, tc.key)).ListApiKeys(context.Background(), &adminv1.ListApiKeysRequest{})
			if st := wantCode(t, err, codes.Unauthenticated); st.Message() != tc.want {
				t.Errorf("message %q, want %q", st.Message(), tc.want)
			}
		})
	}
}
