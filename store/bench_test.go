package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bifrost/integrations/config"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// BenchmarkInsertAuditEvents is for profiling the audit writer's inserts
// (go test -bench InsertAuditEvents -cpuprofile); ns/op is per event. A batch
// is one row, and a key row for each organization, integration and API key in
// it: events of one organization add three key rows a batch; spread over many,
// as in production, a key row per organization, each on another page of the
// key index. Batches are of the audit writer's default bound (4096) and of an
// eighth of it: each transaction writes the pages it touched to the WAL, so
// larger batches write fewer pages per event.
func BenchmarkInsertAuditEvents(b *testing.B) {
	for _, batch := range []int{512, 4096} {
		for _, orgs := range []int{1, 1000} {
			b.Run(fmt.Sprintf("batch=%d/orgs=%d", batch, orgs), func(b *testing.B) {
				s, _ := openStore(b)
				ctx := context.Background()
				events := make([]store.AuditEvent, batch)
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					for i := range events {
						events[i] = store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), APIKeyID: "0196f1c2-key", Role: "admin",
							Method: "/bifrost.integrations.v1.IntegrationsService/GetIntegration", Integration: "Bench",
							OrgID: fmt.Sprintf("org-%d", (done+i)%orgs), Outcome: "OK", RequestID: "0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", Detail: "returned secrets"}
					}
					if err := s.InsertAuditEvents(ctx, events); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGeneration is the check every call makes against the caches (go test
// -bench Generation -cpu 1,16): on SQLite a load of the in-memory counter; on
// PostgreSQL (BIFROST_TEST_DB=postgres) one read, shared under concurrency.
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

// BenchmarkUncachedReads are reads the cache does not serve: a page of one
// mapping, and the mapping of an entity (-cpu 1 for a single caller's cost).
func BenchmarkUncachedReads(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	schema := config.Schema{{Key: "tenant", Type: config.String}, {Key: "page_size", Type: config.Int}}
	if _, err := s.CreateIntegration(ctx, store.Integration{Name: "Graph", Schema: schema, Defaults: map[string]any{"tenant": "common"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-1", ConfigPatch: map[string]any{"page_size": float64(50)}}); err != nil {
		b.Fatal(err)
	}
	b.Run("ListMappings", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListMappings(ctx, "Graph", "", store.Page{Limit: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindMappingByEntity", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.FindMappingByEntity(ctx, "Graph", "tenant-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNumberingTheAuditLog is what migration 00010 costs at the first
// start of the version that brought it: the store opens on an audit log of
// 100,000 unnumbered events, spread over 1,000 organizations, and numbers it
// (copies it into the new table). It reports the cost per event.
func BenchmarkNumberingTheAuditLog(b *testing.B) {
	const events = 100_000
	keys := testutil.Keyring(b)
	for range b.N {
		b.StopTimer()
		path := testdb.Database(b)
		db := rawDBAtVersion(b, path, 9)
		log := make([]store.AuditEvent, events)
		for i := range log {
			log[i] = store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), APIKeyID: "0196f1c2-key",
				Method: "/bifrost.integrations.v1.IntegrationsService/GetIntegration", Integration: "Bench",
				OrgID: fmt.Sprintf("org-%d", i%1000), Outcome: "OK"}
		}
		writeUnnumberedAuditEvents(b, db, log)
		db.Close()
		b.StartTimer()
		s, err := store.Open(context.Background(), path, keys)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
