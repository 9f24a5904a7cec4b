package server

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// resolvedWithEverything is a resolved read with a mapped entity, a config
// with a secret, a connection and a token.
func resolvedWithEverything() *store.Resolved {
	expires := time.Now().Add(time.Hour)
	return &store.Resolved{
		Integration: store.Integration{ID: "0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", Name: "Microsoft_Graph"},
		Mapping:     &store.Mapping{EntityID: "tenant-123", EntityName: "Acme"},
		EntityID:    "tenant-123",
		Config:      map[string]any{"tenant_id": "acme-tenant", "page_size": 100.0, "verbose": true, "api_key": "org-a-api-key-c2"},
		SecretKeys:  []string{"api_key"},
		Connection: &store.Connection{Name: "graph", ClientID: "client-1", ClientSecret: "client-secret",
			AuthorizationURL: "https://login.example/{entity_id}/authorize", TokenURL: "https://login.example/{entity_id}/token", Scopes: []string{"a", "b"}},
		Token: &store.Token{AccessToken: "access-token-abcdefghijklmnopqrstuvwxyz", RefreshToken: "refresh-token", ExpiresAt: &expires, Status: store.TokenConnected},
	}
}

// The answer sent as encoded once reads, on the client, as the answer built
// for the call; a call with another token than the read's gets that token.
func TestTheAnswerEncodedOnceReadsAsTheAnswerBuilt(t *testing.T) {
	t.Parallel()
	r := resolvedWithEverything()
	built, err := builtAnswer(r, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	refreshed := *r.Token
	refreshed.AccessToken = "refreshed-access-token"
	for _, tt := range []struct {
		name  string
		token *store.Token
		want  string
	}{
		{"the read's token, encoded once", r.Token, r.Token.AccessToken},
		{"the read's token, from the encoding", r.Token, r.Token.AccessToken},
		{"a refreshed token", &refreshed, refreshed.AccessToken},
	} {
		answer, err := integrationAnswer(r, tt.token)
		if err != nil {
			t.Fatal(err)
		}
		encoded, err := proto.Marshal(answer)
		if err != nil {
			t.Fatal(err)
		}
		var got integrationsv1.GetIntegrationResponse
		if err := proto.Unmarshal(encoded, &got); err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(built).(*integrationsv1.GetIntegrationResponse)
		want.GetIntegration().GetOauth().AccessToken = tt.want
		if !proto.Equal(&got, want) {
			t.Errorf("%s: the client reads %v, want %v", tt.name, &got, want)
		}
	}
}
