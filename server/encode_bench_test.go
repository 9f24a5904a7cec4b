package server

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// BenchmarkGetIntegrationAnswer is what a GetIntegration answer costs to build
// and encode on the server and to decode on the client, apart from gRPC: the
// config is a google.protobuf.Struct, whose map protobuf-go encodes and decodes
// through reflection. A call with the token Resolve read sends the answer
// encoded once per read of the database; one whose token was just refreshed
// builds and encodes it.
func BenchmarkGetIntegrationAnswer(b *testing.B) {
	expires := time.Now().Add(time.Hour)
	r := &store.Resolved{
		Integration: store.Integration{ID: "0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", Name: "Microsoft_Graph"},
		EntityID:    "tenant-123",
		Config:      map[string]any{"tenant_id": "acme-tenant", "page_size": 100.0, "verbose": true, "api_key": "org-a-api-key-c2"},
		SecretKeys:  []string{"api_key"},
		Connection: &store.Connection{Name: "graph", ClientID: "client-1", ClientSecret: "client-secret",
			AuthorizationURL: "https://login.example/{entity_id}/authorize", TokenURL: "https://login.example/{entity_id}/token", Scopes: []string{"a", "b"}},
		Token: &store.Token{AccessToken: "access-token-abcdefghijklmnopqrstuvwxyz", RefreshToken: "refresh-token", ExpiresAt: &expires, Status: store.TokenConnected},
	}
	refreshed := *r.Token
	encode := func(token *store.Token) []byte {
		answer, err := integrationAnswer(r, token)
		if err != nil {
			b.Fatal(err)
		}
		encoded, err := proto.Marshal(answer)
		if err != nil {
			b.Fatal(err)
		}
		return encoded
	}
	b.Run("build and encode", func(b *testing.B) {
		for b.Loop() {
			encode(&refreshed)
		}
	})
	b.Run("encoded once", func(b *testing.B) {
		for b.Loop() {
			encode(r.Token)
		}
	})
	encoded := encode(r.Token)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := proto.Unmarshal(encoded, &integrationsv1.GetIntegrationResponse{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
