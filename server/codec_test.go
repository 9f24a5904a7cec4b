package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/server"
)

// rawCodec sends and receives bytes as they are, to put what no well-behaved
// client would on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// deepStruct is an UpsertMappingRequest whose config nests Structs deeper
// than protobuf's recursion limit of 10,000 messages (each level is a
// Struct, a map entry and a Value).
func deepStruct() []byte {
	var value []byte // the innermost Value: empty
	for range 4000 {
		entry := protowire.AppendTag(nil, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, "a")
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, value)
		st := protowire.AppendTag(nil, 1, protowire.BytesType) // Struct.fields
		st = protowire.AppendBytes(st, entry)
		value = protowire.AppendTag(nil, 5, protowire.BytesType) // Value.struct_value
		value = protowire.AppendBytes(value, st)
	}
	// value holds a Struct at its field 5; UpsertMappingRequest.config is
	// field 5 too, so the same bytes are a request.
	return value
}

// Requests that do not decode are the caller's error: INVALID_ARGUMENT,
// counted per method in bifrost_grpc_undecodable_requests_total and logged,
// on unary and streaming methods alike; unknown fields from a newer client
// still decode.
func TestUndecodableRequestsAreInvalidArgumentCountedAndLogged(t *testing.T) {
	t.Parallel()
	registry := prometheus.NewRegistry()
	logs := &testutil.SyncBuffer{}
	addr := serveOnLoopback(t, server.Deps{Metrics: registry, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	const v1 = "bifrost.integrations.v1.IntegrationsService"
	for _, tc := range []struct {
		name            string
		service, method string
		request         []byte
		stream          bool
		want            codes.Code
	}{
		{"bad wire format", v1, "GetMapping", []byte{0x0a, 0x05, 'a'}, false, codes.InvalidArgument},
		{"invalid UTF-8 in a string", v1, "GetIntegration", []byte{0x0a, 0x02, 0xff, 0xfe}, false, codes.InvalidArgument},
		{"a Struct nested past the recursion limit", v1, "UpsertMapping", deepStruct(), false, codes.InvalidArgument},
		{"invalid UTF-8 in a health Watch", "grpc.health.v1.Health", "Watch", []byte{0x0a, 0x01, 0xff}, true, codes.InvalidArgument},
		{"an unknown field from a newer client", v1, "DeleteMapping", protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1), false, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fullMethod := "/" + tc.service + "/" + tc.method
			ctx := context.Background()
			var err error
			if tc.stream {
				var stream grpc.ClientStream
				stream, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod, grpc.ForceCodecV2(rawCodec{}))
				if err == nil {
					err = stream.SendMsg(tc.request)
				}
				if err == nil {
					err = stream.CloseSend()
				}
				var resp []byte
				for err == nil {
					err = stream.RecvMsg(&resp)
				}
				if err != io.EOF {
					err = status.Convert(err).Err()
				}
			} else {
				var resp []byte
				err = conn.Invoke(ctx, fullMethod, tc.request, &resp, grpc.ForceCodecV2(rawCodec{}))
			}
			if status.Code(err) != tc.want {
				t.Fatalf("%s: %v, want %v", tc.method, err, tc.want)
			}
			counted := undecodableCount(t, registry, tc.service, tc.method)
			if want := map[bool]float64{true: 1, false: 0}[tc.want == codes.InvalidArgument]; counted != want {
				t.Fatalf("bifrost_grpc_undecodable_requests_total for %s = %v, want %v", tc.method, counted, want)
			}
			logged := fmt.Sprintf(`"grpc.method":%q,"grpc.code":"InvalidArgument"`, tc.method)
			if strings.Contains(logs.String(), logged) != (tc.want == codes.InvalidArgument) {
				t.Fatalf("logs (want %s: %v):\n%s", logged, tc.want == codes.InvalidArgument, logs)
			}
		})
	}
}

// undecodableCount is the count of method's undecodable requests, as the
// registry exports it.
func undecodableCount(t *testing.T, registry *prometheus.Registry, service, method string) float64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "bifrost_grpc_undecodable_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_service"] == service && labels["grpc_method"] == method {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
