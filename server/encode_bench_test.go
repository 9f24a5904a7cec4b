package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// BenchmarkGetIntegrationAnswer is what a GetIntegration answer costs on the
// server and the client, apart from gRPC: a call with the token its read
// holds returns the read's answer and sends its encoding (encodedMessage);
// a new read, or a call whose token was refreshed, builds and encodes an
// answer (the config is a google.protobuf.Struct, whose map protobuf-go
// walks by reflection).
func BenchmarkGetIntegrationAnswer(b *testing.B) {
	r := resolvedWithEverything()
	p, err := prepared(r, everything)
	if err != nil {
		b.Fatal(err)
	}
	answer := p.answer
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := integrationAnswer(r, r.Token, everything); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := proto.Marshal(answer); err != nil {
				b.Fatal(err)
			}
		}
	})
	codec := newServerCodec()
	b.Run("send the read's encoding", func(b *testing.B) {
		for b.Loop() {
			p, err := prepared(r, everything)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := codec.Marshal(&encodedMessage{Message: answer, wire: p.wire}); err != nil {
				b.Fatal(err)
			}
		}
	})
	encoded, err := proto.Marshal(answer)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := proto.Unmarshal(encoded, &integrationsv1.GetIntegrationResponse{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
