package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// The server's codec changes decoding only: what it sends is byte for byte
// what grpc-go's proto codec sends, under the same name, and what it
// decodes is the message sent. (Structs here have one key: proto does not
// order map entries, so two marshals of a larger map may differ in any codec.)
func TestServerCodecMarshalsMessagesExactlyAsTheProtoCodec(t *testing.T) {
	t.Parallel()
	protoCodec, ours := encoding.GetCodecV2(grpcproto.Name), newServerCodec()
	if ours.Name() != protoCodec.Name() {
		t.Fatalf("name %q, want %q", ours.Name(), protoCodec.Name())
	}
	config, err := structpb.NewStruct(map[string]any{"tenant": "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  proto.Message
	}{
		{"an empty message", &integrationsv1.GetIntegrationResponse{}},
		{"a request", &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a", ForceRefresh: true, MinValidity: durationpb.New(time.Minute)}},
		{"a response with config and a token", &integrationsv1.GetIntegrationResponse{Integration: &integrationsv1.IntegrationData{
			IntegrationName: "Microsoft_Graph", EntityId: "tenant-a", Config: config, ConfigSecretKeys: []string{"api_key"},
			Oauth: &integrationsv1.OAuthCredentials{AccessToken: "token", Scopes: []string{"a", "b"}, ExpiresAt: timestamppb.New(time.Unix(1e9, 5))},
		}}},
		{"a message over grpc-go's buffer pooling threshold", &integrationsv1.GetIntegrationResponse{Integration: &integrationsv1.IntegrationData{EntityName: strings.Repeat("x", 256<<10)}}},
		{"a health response", &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, err := protoCodec.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			defer want.Free()
			got, err := ours.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Free()
			if !bytes.Equal(got.Materialize(), want.Materialize()) {
				t.Fatalf("marshalled %x, want %x", got.Materialize(), want.Materialize())
			}
			back := tc.msg.ProtoReflect().New().Interface()
			if err := ours.Unmarshal(got, back); err != nil {
				t.Fatal(err)
			}
			if reason, noted := ours.undecodable.take(back); noted || !proto.Equal(back, tc.msg) {
				t.Fatalf("decoded %v (undecodable: %v %q), want %v", back, noted, reason, tc.msg)
			}
		})
	}
}

// A request that does not decode is emptied, noted once with its decode
// error, and forgotten when taken: the message carries no trace of it and
// the codec keeps nothing after the interceptor has asked.
func TestUndecodableRequestIsEmptiedAndNotedUntilTaken(t *testing.T) {
	t.Parallel()
	codec := newServerCodec()
	invalidUTF8Name := []byte{0x0a, 0x02, 0xff, 0xfe}
	req := &integrationsv1.GetIntegrationRequest{Name: "left from before"}
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(invalidUTF8Name)}, req); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, &integrationsv1.GetIntegrationRequest{}) || len(req.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("the undecodable request holds %v (unknown fields %x), want it empty", req, req.ProtoReflect().GetUnknown())
	}
	if _, noted := codec.undecodable.take(&integrationsv1.GetIntegrationRequest{}); noted {
		t.Fatal("another request was taken as undecodable")
	}
	reason, noted := codec.undecodable.take(req)
	if !noted || !strings.Contains(reason, "UTF-8") {
		t.Fatalf("take = %q, %v; want the decode error", reason, noted)
	}
	if _, noted := codec.undecodable.take(req); noted {
		t.Fatal("the request was still noted after it was taken")
	}
	if n := codec.undecodable.pending.Load(); n != 0 {
		t.Fatalf("%d requests still noted, want none", n)
	}
}
