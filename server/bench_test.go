package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// BenchmarkGetIntegration is for profiling the read path in-process
// (go test -bench GetIntegration -cpuprofile); make bench measures it for real.
func BenchmarkGetIntegration(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	c := f.env.Integrations(b, f.env.AdminKey)
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(b, map[string]any{"api_key": orgAAPIKey})}); err != nil {
		b.Fatal(err)
	}
	req := &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetIntegration(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHealthCheck is the floor GetIntegration is held against, in-process
// on the same kind of connection: profile both and compare with pprof
// -diff_base to see what a Get adds.
func BenchmarkHealthCheck(b *testing.B) {
	f := newFixture(b)
	h := healthpb.NewHealthClient(f.env.Conn(b, ""))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUpsertMapping is for profiling the write path in-process.
func BenchmarkUpsertMapping(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	c := f.env.Integrations(b, f.env.AdminKey)
	cfg := mustStruct(b, map[string]any{"page_size": 5, "tenant_id": "t"})
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			org := fmt.Sprintf("org-%d", n.Add(1))
			if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: org, EntityId: "e", Config: cfg}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
