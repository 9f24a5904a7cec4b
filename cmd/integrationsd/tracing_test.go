package main

import (
	"context"
	"net"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// collector is an OTLP trace receiver that remembers span names.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestTracesGoToTheOTLPEndpointTheEnvironmentNames(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	defer gs.Stop()

	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + lis.Addr().String()}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	dir := t.TempDir()
	d, stop := runDaemon(t, lookup, dir)
	conn, callCtx := dialAsAdmin(t, d, dir)
	_, _ = integrationsv1.NewIntegrationsServiceClient(conn).GetIntegration(callCtx, &integrationsv1.GetIntegrationRequest{Name: "Traced"})
	if err := stop(); err != nil { // shutdown flushes the spans
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, name := range col.spans {
		if name == "bifrost.integrations.v1.IntegrationsService/GetIntegration" {
			return
		}
	}
	t.Fatalf("no GetIntegration span among %v", col.spans)
}

func TestTracingIsOffByDefault(t *testing.T) {
	t.Parallel()
	tp, stop, err := setupTracing(context.Background(), noEnv)
	if tp != nil || stop != nil || err != nil {
		t.Fatalf("setupTracing without OTEL_* = %v, %v", tp, err)
	}
}
