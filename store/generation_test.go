package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGenerationReadsAreSharedButNeverOlderThanTheCall drives many concurrent
// callers, each of which "commits a write" (advances the counter the fake
// query returns) right before it asks: every answer must include its own
// write, and far fewer queries than calls must have run.
func TestGenerationReadsAreSharedButNeverOlderThanTheCall(t *testing.T) {
	t.Parallel()
	var committed, queries atomic.Int64
	r := newGenerationReader(func(context.Context) (Generation, error) {
		queries.Add(1)
		seen := committed.Load()
		time.Sleep(time.Millisecond) // not a poll: a slow query, for callers to pile up meanwhile
		return Generation{All: seen}, nil
	}, 0)
	defer r.close()
	const callers, callsEach = 32, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range callsEach {
				mine := committed.Add(1)
				got, err := r.read(context.Background())
				if err != nil || got.All < mine {
					t.Errorf("read = %d, %v after the caller's own write %d: a stale read was shared", got, err, mine)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := queries.Load(); n > callers*callsEach/2 {
		t.Fatalf("%d queries for %d calls: reads were not shared", n, callers*callsEach)
	}
}

func TestGenerationReadErrorReachesItsBatchAndTheNextReadTriesAgain(t *testing.T) {
	t.Parallel()
	fail := errors.New("database gone")
	var calls atomic.Int64
	r := newGenerationReader(func(context.Context) (Generation, error) {
		if calls.Add(1) == 1 {
			return Generation{}, fail
		}
		return Generation{All: 7, Definitions: 2}, nil
	}, 0)
	defer r.close()
	if _, err := r.read(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("first read: %v, want the query's error", err)
	}
	if g, err := r.read(context.Background()); err != nil || g != (Generation{All: 7, Definitions: 2}) {
		t.Fatalf("second read: %+v, %v; want a fresh query's answer", g, err)
	}
}

func TestGenerationReadStopsWaitingWhenTheCallersContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := newGenerationReader(func(context.Context) (Generation, error) {
		<-release
		return Generation{All: 1}, nil
	}, 0)
	defer r.close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read on a hung database: %v, want the caller's deadline", err)
	}
}

func TestGenerationReaderCloseWaitsForTheReadInFlightAndRefusesNewOnes(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	r := newGenerationReader(func(context.Context) (Generation, error) {
		close(started)
		<-release
		return Generation{All: 1}, nil
	}, 0)
	defer r.close()
	go func() { _, _ = r.read(context.Background()) }()
	<-started
	closed := make(chan struct{})
	go func() { r.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a read was still running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if _, err := r.read(context.Background()); !errors.Is(err, errStoreClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// Two writers can finish their commits in either order: each in-memory
// counter takes the later one and never goes back to the earlier.
func TestLocalGenerationNeverGoesBack(t *testing.T) {
	t.Parallel()
	var g localGeneration
	for _, committed := range []Generation{{5, 2, 9}, {3, 1, 8}, {6, 2, 9}, {6, 2, 10}, {4, 2, 7}, {7, 2, 10}} {
		moveForward(&g.definitions, committed.Definitions)
		moveForward(&g.tokens, committed.Tokens)
		moveForward(&g.all, committed.All)
	}
	if v, _ := g.read(context.Background()); v != (Generation{All: 7, Definitions: 2, Tokens: 10}) {
		t.Fatalf("generation after commits: %+v, want {All:7 Definitions:2 Tokens:10}", v)
	}
}

// Within one call's scope the database's generation is read once; outside a
// scope every read asks again.
func TestGenerationScopeReadsTheDatabaseOncePerCall(t *testing.T) {
	t.Parallel()
	var queries atomic.Int64
	r := newGenerationReader(func(context.Context) (Generation, error) { return Generation{All: queries.Add(1)}, nil }, 0)
	defer r.close()
	call := r.scoped(context.Background())
	for range 3 {
		if g, err := r.read(call); err != nil || g.All != 1 {
			t.Fatalf("read in the call's scope: %d, %v; want the call's first reading, 1", g, err)
		}
	}
	if g, err := r.read(context.Background()); err != nil || g.All != 2 {
		t.Fatalf("read outside a scope: %d, %v; want a new reading, 2", g, err)
	}
}

// A call's scope saves database reads of the generation; SQLite's generation
// is in memory, so its calls get no scope to allocate and look up.
func TestOnlyAGenerationReadFromTheDatabaseIsScoped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reader := newGenerationReader(func(context.Context) (Generation, error) { return Generation{All: 1}, nil }, 0)
	defer reader.close()
	if reader.scoped(ctx) == ctx {
		t.Fatal("PostgreSQL's generation reader gave a call no scope")
	}
	var local localGeneration
	if local.scoped(ctx) != ctx {
		t.Fatal("SQLite's in-memory generation gave a call a scope")
	}
}
