package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/client"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

func TestUsagePatternCallsGraphWithTheOrgsToken(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: "cid",
		AuthorizationUrl: "https://login.example/authorize", TokenUrl: "https://login.example/token",
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Microsoft_Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: "org-123", AccessToken: "org-123-token", ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/users" || r.Header.Get("Authorization") != "Bearer org-123-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":[{"displayName":"Ada"}]}`))
	}))
	defer graph.Close()

	c, err := client.New("passthrough:///bufnet", client.WithAPIKey(env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-123")),
		client.WithInsecure(), client.WithDialOptions(grpc.WithContextDialer(env.Dialer())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	users, err := syncUsers(ctx, c, graph.Client(), graph.URL+"/v1.0")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := users["value"].([]any); len(v) != 1 {
		t.Fatalf("users = %v", users)
	}
	if _, err := admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "Microsoft_Graph"}); err != nil {
		t.Fatal(err)
	}
	if _, err := syncUsers(ctx, c, graph.Client(), graph.URL+"/v1.0"); err == nil || err.Error() != "integration not configured" {
		t.Fatalf("without the integration: %v, want 'integration not configured'", err)
	}
}
