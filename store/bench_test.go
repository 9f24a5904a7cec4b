package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bifrost/integrations/store"
)

// BenchmarkInsertAuditEvents is for profiling the audit writer's inserts
// (go test -bench InsertAuditEvents -cpuprofile); ns/op is per event.
func BenchmarkInsertAuditEvents(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	const batch = 256
	events := make([]store.AuditEvent, batch)
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		for i := range events {
			events[i] = store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), APIKeyID: "0196f1c2-key", Role: "admin",
				Method: "/bifrost.integrations.v1.IntegrationsService/GetIntegration", Integration: "Bench", OrgID: "org-bench",
				Outcome: "OK", RequestID: "0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", Detail: "returned secrets"}
		}
		if err := s.InsertAuditEvents(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGeneration is the check every call makes against the caches (go test
// -bench Generation -cpu 1,16): one read, and reads shared under concurrency.
func BenchmarkGeneration(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Generation(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
