package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/store"
)

// Not parallel: AllocsPerRun counts the whole process's allocations.
func TestCallLogLineIsBuiltOnlyWhenItsLevelIsEnabled(t *testing.T) {
	var out bytes.Buffer
	s := mustNew(t, Deps{Logger: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	info := &grpc.UnaryServerInfo{FullMethod: "/bifrost.integrations.v1.IntegrationsService/GetIntegration"}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	ctx := context.Background()
	if allocs := testing.AllocsPerRun(100, func() { _, _ = s.logCalls(ctx, nil, info, ok) }); allocs != 0 {
		t.Fatalf("a successful call at info level allocated %v times for its unwritten log line", allocs)
	}
	if out.Len() != 0 {
		t.Fatalf("a successful call logged at info level: %s", out.String())
	}
}

func TestCallLogLineNamesTheCallerCodeAndErrorOnce(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	s := mustNew(t, Deps{Logger: slog.New(WithRequestIDs(slog.NewJSONHandler(&out, nil)))})
	info := &grpc.UnaryServerInfo{FullMethod: "/bifrost.integrations.v1.IntegrationsService/GetIntegration"}
	notFound := func(ctx context.Context, _ any) (any, error) {
		recordOf(ctx).caller = auth.Principal{KeyID: "key-1", Role: store.RoleWorker}
		return nil, status.Error(codes.NotFound, `integration "Nope" not found`)
	}
	logged := func(ctx context.Context, req any) (any, error) { return s.logCalls(ctx, req, info, notFound) }
	from := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 50123}})
	_, _ = requestID(from, nil, info, logged)
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	if bytes.Count(out.Bytes(), []byte(`"request_id"`)) != 1 {
		t.Errorf("request_id not exactly once: %s", out.String())
	}
	for key, want := range map[string]any{
		"level": "INFO", "msg": "finished call", "grpc.service": "bifrost.integrations.v1.IntegrationsService", "grpc.method": "GetIntegration",
		"grpc.code": "NotFound", "grpc.error": `integration "Nope" not found`, "api_key_id": "key-1", "role": "worker",
		"peer.address": "10.0.0.7:50123",
	} {
		if line[key] != want {
			t.Errorf("%s = %v, want %v", key, line[key], want)
		}
	}
}

func mustNew(t *testing.T, d Deps) *Server {
	t.Helper()
	s, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
