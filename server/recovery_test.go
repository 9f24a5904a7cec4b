package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/server"
)

// A server without a store panics on the first call that needs one; the
// recovery interceptor must turn that into INTERNAL and keep serving.
func TestPanicBecomesInternalAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, err := server.New(server.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.NewGRPCServer(health.NewServer())
	lis := bufconn.Listen(1 << 16)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := integrationsv1.NewIntegrationsServiceClient(conn)
	key := "bfk_" + strings.Repeat("k", 43) // well formed: authentication looks it up
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	for range 2 {
		_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "x"})
		st := wantCode(t, err, codes.Internal)
		if st.Message() != "internal error" {
			t.Fatalf("message leaks internals: %q", st.Message())
		}
	}
	if !strings.Contains(logs.String(), "panic") || strings.Contains(logs.String(), key) {
		t.Fatalf("logs: %s", logs.String())
	}
}
