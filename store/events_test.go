package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// A reader resuming from its cursor while retention runs never misses an
// event silently: either the page starts right after the cursor, or it says
// events after the cursor were pruned. (On PostgreSQL each statement has its
// own snapshot; the pruned position is read after the events for this.)
func TestEventsReadDuringRetentionNeverSkipsSilently(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 50 {
		if err := s.RecordEvent(ctx, store.Event{Type: store.EventMappingUpserted, OrgID: "org-a"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	busy, stop := context.WithCancel(ctx)
	wg.Go(func() {
		for busy.Err() == nil {
			_ = s.RecordEvent(busy, store.Event{Type: store.EventMappingUpserted, OrgID: "org-a"})
		}
	})
	wg.Go(func() {
		for busy.Err() == nil {
			_, _ = s.PruneEvents(busy, time.Now().Add(time.Hour))
		}
	})
	defer func() { stop(); wg.Wait() }()
	cursor := int64(0)
	for ctx.Err() == nil {
		page, err := s.Events(ctx, cursor, store.EventFilter{AnyOrg: true}, 200)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.Fatal(err)
		}
		if page.Pruned > cursor {
			cursor = page.Pruned // the server answers EVENTS_PRUNED; a client starts again here
			continue
		}
		if len(page.Events) > 0 && page.Events[0].Position != cursor+1 {
			t.Fatalf("resumed after %d, pruned up to %d, yet the first event is %d: events missing without a word",
				cursor, page.Pruned, page.Events[0].Position)
		}
		if n := len(page.Events); n > 0 {
			cursor = page.Events[n-1].Position
		}
	}
}

// Three stores on one database writing at once: a reader resuming from its
// cursor sees every position once, in order.
func TestEventPositionsAreContiguousAcrossReplicasWritingAtOnce(t *testing.T) {
	t.Parallel()
	path, ring := testdb.Database(t), testutil.Keyring(t)
	stores := []*store.Store{openAt(t, path, ring), openAt(t, path, ring), openAt(t, path, ring)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const perWriter = 50
	var wg sync.WaitGroup
	for _, s := range stores {
		for range 3 {
			wg.Go(func() {
				for range perWriter {
					if err := s.RecordEvent(ctx, store.Event{Type: store.EventMappingUpserted, OrgID: "org"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	total, cursor := int64(len(stores)*3*perWriter), int64(0)
	for cursor < total && ctx.Err() == nil {
		page, err := stores[2].Events(ctx, cursor, store.EventFilter{OrgID: "org", PlatformToo: true}, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.Position != cursor+1 {
				t.Fatalf("after position %d came %d", cursor, e.Position)
			}
			cursor = e.Position
		}
	}
	wg.Wait()
	if cursor != total {
		t.Fatalf("read up to %d of %d", cursor, total)
	}
}
