package server

import (
	"testing"

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
	r := resolvedWithEverything()
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
