package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bifrost/integrations/audit"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/server"
)

// answerServer is a second server on a fixture's database, built with an
// interceptor ahead of the server's own: it sees each GetIntegration response
// as the server hands it to the codec, after every interceptor of the server.
type answerServer struct {
	conn *grpc.ClientConn
	key  string

	mu   sync.Mutex
	sent []proto.Message
}

func newAnswerServer(t *testing.T, f *fixture) *answerServer {
	t.Helper()
	a := &answerServer{key: f.env.AdminKey}
	discard := slog.New(slog.DiscardHandler)
	deps := server.Deps{Store: f.env.Store, Refresher: f.env.Refresher, Keys: f.env.Keys, Logger: discard,
		Audit: audit.New(f.env.Store, audit.Options{Logger: discard})}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deps.Audit.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	srv, err := server.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.NewGRPCServer(health.NewServer(), grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			resp, err := handler(ctx, req)
			if m, ok := resp.(proto.Message); ok && info.FullMethod == integrationsv1.IntegrationsService_GetIntegration_FullMethodName {
				a.mu.Lock()
				a.sent = append(a.sent, m)
				a.mu.Unlock()
			}
			return resp, err
		}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)
	if a.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.conn.Close() })
	return a
}

// get calls GetIntegration and returns the bytes the client received and the
// message the server sent.
func (a *answerServer) get(t *testing.T, req *integrationsv1.GetIntegrationRequest) ([]byte, proto.Message) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+a.key)
	var wire []byte
	if err := a.conn.Invoke(ctx, integrationsv1.IntegrationsService_GetIntegration_FullMethodName, req, &wire, grpc.ForceCodecV2(rawReplies{})); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sent) == 0 {
		t.Fatal("the server sent no GetIntegration response")
	}
	sent := a.sent[len(a.sent)-1]
	return wire, sent
}

// getWire is get's bytes alone.
func (a *answerServer) getWire(t *testing.T, req *integrationsv1.GetIntegrationRequest) []byte {
	t.Helper()
	wire, _ := a.get(t, req)
	return wire
}

// rawReplies encodes requests as grpc-go's proto codec does and keeps each
// reply's bytes as they came.
type rawReplies struct{}

func (rawReplies) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2(grpcproto.Name).Marshal(v)
}

func (rawReplies) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawReplies) Name() string { return grpcproto.Name }

// withEverything maps org-a with an entity name and overrides of every config
// type, so GetIntegration's answer sets every field it can.
func withEverything(t *testing.T, f *fixture) {
	t.Helper()
	f.putToken(t, "org-a", orgAAccess, "org-a-refresh-token")
	_, err := f.env.Integrations(t, f.env.AdminKey).UpsertMapping(context.Background(), &integrationsv1.UpsertMappingRequest{
		Name: "Microsoft_Graph", OrgId: "org-a", EntityId: "tenant-a", EntityName: "Acme",
		Config: mustStruct(t, map[string]any{"tenant_id": "acme-tenant", "verbose": true, "api_key": orgAAPIKey,
			"extra": map[string]any{"region": "eu", "shards": []any{1.0, "two", nil, false}}}),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// What the client receives is the encoding of the very message the server
// sent, after every interceptor: byte for byte (the server encodes
// deterministically), for an integration with OAuth and one without.
func TestGetIntegrationSendsTheMessageItReturns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	withEverything(t, f)
	a := newAnswerServer(t, f)
	for _, req := range []*integrationsv1.GetIntegrationRequest{
		{Name: "Microsoft_Graph", OrgId: "org-a"},
		{Name: "Microsoft_Graph", OrgId: "org-a"}, // from the read the first call cached
		{Name: "Microsoft_Graph", Scope: "global"},
		{Name: "Plain", OrgId: "org-a"},
	} {
		wire, sent := a.get(t, req)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(sent)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wire, want) {
			t.Errorf("%v: the client received %x, the message sent encodes to %x", req, wire, want)
		}
		var got integrationsv1.GetIntegrationResponse
		if err := proto.Unmarshal(wire, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, sent) || got.GetIntegration().GetIntegrationName() != req.GetName() {
			t.Errorf("%v: the client read %v, the server sent %v", req, &got, sent)
		}
	}
}

// protojson of the response as the server returns it holds every field the
// client receives, and the fixture sets every field but status_message (set
// only for a token that is not connected).
func TestGetIntegrationResponseHoldsEveryFieldInJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	withEverything(t, f)
	a := newAnswerServer(t, f)
	wire, sent := a.get(t, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	var received integrationsv1.GetIntegrationResponse
	if err := proto.Unmarshal(wire, &received); err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON integrationsv1.GetIntegrationResponse
	if err := protojson.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&fromJSON, &received) {
		t.Fatalf("protojson of the response: %s\nthe client received: %v", js, &received)
	}
	unset := map[protoreflect.FullName]bool{}
	for _, m := range []protoreflect.Message{received.ProtoReflect(), received.GetIntegration().ProtoReflect(), received.GetIntegration().GetOauth().ProtoReflect()} {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); !m.Has(fd) {
				unset[fd.FullName()] = true
			}
		}
	}
	if len(unset) != 1 || !unset["bifrost.integrations.v1.OAuthCredentials.status_message"] {
		t.Fatalf("fields the answer leaves unset: %v, want only status_message", unset)
	}
}

// The calls of one read share its answer message, which nothing in the server
// changes. One changed everywhere in place after its call anyway changes
// neither what later callers receive (it was encoded before any caller saw
// it) nor the read it was built from: the answer built from that read for
// another view (a key bound to org-a, which gets no client secret) is whole.
func TestAResponseChangedInPlaceChangesNeitherLaterAnswersNorTheRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	withEverything(t, f)
	orgAKey := f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a") // before the read: a new key is a write
	a := newAnswerServer(t, f)
	req := &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"}
	firstWire, first := a.get(t, req)
	var want integrationsv1.GetIntegrationResponse
	if err := proto.Unmarshal(firstWire, &want); err != nil {
		t.Fatal(err)
	}
	changeEverything(first.ProtoReflect())
	if proto.Equal(first, &want) {
		t.Fatal("changeEverything changed nothing")
	}
	var got integrationsv1.GetIntegrationResponse
	if err := proto.Unmarshal(a.getWire(t, req), &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, &want) {
		t.Fatalf("after the first response was changed, the next caller received %v; want %v", &got, &want)
	}
	a.key = orgAKey
	got.Reset()
	if err := proto.Unmarshal(a.getWire(t, req), &got); err != nil {
		t.Fatal(err)
	}
	want.GetIntegration().GetOauth().ClientSecret = ""
	if !proto.Equal(&got, &want) {
		t.Fatalf("after the first response was changed, org-a's key received %v; want %v", &got, &want)
	}
}

// changeEverything changes every populated field of m, in place and all the
// way down: strings, numbers, booleans, enums, list elements and map values.
func changeEverything(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if fd.Message() != nil {
					changeEverything(l.Get(i).Message())
				} else {
					l.Set(i, changed(fd, l.Get(i)))
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					changeEverything(e.Message())
				} else {
					v.Map().Set(k, changed(fd.MapValue(), e))
				}
				return true
			})
		case fd.Message() != nil:
			changeEverything(m.Mutable(fd).Message())
		default:
			m.Set(fd, changed(fd, v))
		}
		return true
	})
}

func changed(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.String() + "-changed")
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(!v.Bool())
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(v.Enum() + 1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(v.Float() + 1)
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(v.Int() + 1)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int()) + 1)
	default:
		panic("changeEverything: no change for " + fd.Kind().String())
	}
}
