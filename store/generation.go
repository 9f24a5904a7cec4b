package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

const generationQuery = `SELECT value, definitions, tokens FROM generation WHERE id = 1`

// Generation is the database's write counters. Every tracked write advances
// All, except a refresh that rewrites a token in place, which advances Tokens
// (migration 00017); every change of a definition (an API key, connection or
// integration, its schema or defaults) advances Definitions, by trigger
// (migration 00011). A cached read is served while the counters it depends on
// have not moved since it was read: what is read from definitions alone stays
// cached through the frequent writes of mappings and tokens, and a resolved
// read through the renewals of other tokens than its own.
type Generation struct {
	All         int64 `db:"value"`
	Definitions int64 `db:"definitions"`
	Tokens      int64 `db:"tokens"`
}

// errStoreClosed answers a read that arrives after Close.
var errStoreClosed = errors.New("reading the generation: the store is closed")

// generationReadTimeout bounds one shared read of the generation on PostgreSQL;
// it is not any one caller's context, since it answers many.
const generationReadTimeout = 10 * time.Second

// Generation is the database's write counters now.
func (s *Store) Generation(ctx context.Context) (Generation, error) { return s.generations.read(ctx) }

type generationScopeKey struct{}

// generationScope is not safe for concurrent use: one call, one goroutine.
type generationScope struct {
	value Generation
	read  bool
}

// WithGenerationScope returns a context in which the generation is read from
// the database once: one gRPC call checks its caches against one reading (a
// change made during the call is seen from the next call on). SQLite's
// generation is in memory, cheaper than a scope: its calls get ctx as it is.
func (s *Store) WithGenerationScope(ctx context.Context) context.Context {
	return s.generations.scoped(ctx)
}

// generationReader is the generation of a PostgreSQL database, which other
// replicas write too: it shares one SELECT of the generation among the calls that
// want it at the same time, so that under load the check costs a fraction of a
// query per call. It never answers a caller with a read that began before the
// caller asked: a write committed before a call started (an API key revoked,
// say) is always seen by that call, on every replica.
//
// Reads run on one long-lived goroutine: a goroutine per read would pay to
// start and to grow its stack through cgo on every call.
type generationReader struct {
	query func(context.Context) (Generation, error)
	// timeout bounds each query; zero leaves it unbounded.
	timeout time.Duration
	work    chan *generationBatch // the batch to read for; one at a time
	stopped chan struct{}

	mu      sync.Mutex
	reading bool             // a read is in flight
	next    *generationBatch // callers waiting for the read after it
	closed  bool
}

type generationBatch struct {
	done  chan struct{}
	value Generation
	err   error
}

func newGenerationReader(query func(context.Context) (Generation, error), timeout time.Duration) *generationReader {
	r := &generationReader{query: query, timeout: timeout, work: make(chan *generationBatch, 1), stopped: make(chan struct{})}
	go r.serve()
	return r
}

// readGeneration reads the generation as q sees it.
func readGeneration(ctx context.Context, q sqlx.QueryerContext) (Generation, error) {
	var g Generation
	if err := sqlx.GetContext(ctx, q, &g, generationQuery); err != nil {
		return Generation{}, fmt.Errorf("reading the generation: %w", err)
	}
	return g, nil
}

// queryGeneration reads the generation from db.
func queryGeneration(db sqlx.QueryerContext) func(context.Context) (Generation, error) {
	return func(ctx context.Context) (Generation, error) { return readGeneration(ctx, db) }
}

func (r *generationReader) scoped(ctx context.Context) context.Context {
	return context.WithValue(ctx, generationScopeKey{}, &generationScope{})
}

// advance leaves the rest to the next read, which sees the commit.
func (r *generationReader) advance(ctx context.Context, tx writeTx, counter generationCounter) (func(), error) {
	return func() {}, advanceGeneration(ctx, tx, counter)
}

// read answers a call that has read the generation already (scoped) with that
// reading, and any other with a shared read.
func (r *generationReader) read(ctx context.Context) (Generation, error) {
	scope, _ := ctx.Value(generationScopeKey{}).(*generationScope)
	if scope != nil && scope.read {
		return scope.value, nil
	}
	g, err := r.readShared(ctx)
	if err != nil {
		return Generation{}, err
	}
	if scope != nil {
		scope.value, scope.read = g, true
	}
	return g, nil
}

func (r *generationReader) readShared(ctx context.Context) (Generation, error) {
	r.mu.Lock()
	if r.next == nil {
		r.next = &generationBatch{done: make(chan struct{})}
	}
	batch := r.next
	if !r.reading {
		if r.closed {
			r.mu.Unlock()
			return Generation{}, errStoreClosed
		}
		r.reading, r.next = true, nil
		r.work <- batch // never blocks: reading guards the one slot
	}
	r.mu.Unlock()
	select {
	case <-batch.done:
		return batch.value, batch.err
	case <-ctx.Done():
		return Generation{}, fmt.Errorf("reading the generation: %w", ctx.Err())
	}
}

// close waits for the read in flight, so that no query runs on a closed store.
func (r *generationReader) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.work)
	}
	r.mu.Unlock()
	<-r.stopped
}

// serve reads for each batch it is handed, then for each batch that gathered
// meanwhile, until none did. Callers wait on their batch, not on the query,
// so every caller, the first included, stops waiting when its own context
// ends.
func (r *generationReader) serve() {
	defer close(r.stopped)
	for batch := range r.work {
		for batch != nil {
			batch.value, batch.err = r.queryOnce()
			close(batch.done)
			r.mu.Lock()
			batch, r.next = r.next, nil
			r.reading = batch != nil
			r.mu.Unlock()
		}
	}
}

func (r *generationReader) queryOnce() (Generation, error) {
	ctx := context.Background()
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	return r.query(ctx)
}
