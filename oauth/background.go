package oauth

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Run renews tokens ahead of expiry until ctx ends, so that reads almost never
// wait on a provider. Every replica runs it; leases keep them from refreshing a
// token twice. While a pass finds a full batch of due tokens the next starts
// at once; otherwise ticks are jittered so replicas do not scan in step. At
// most Concurrency refreshes run at once, and at most ConnectionConcurrency
// against one connection's provider.
func (r *Refresher) Run(ctx context.Context) {
	b := &background{
		slots:    make(chan struct{}, r.opts.Concurrency),
		perConn:  map[string]chan struct{}{},
		inFlight: map[string]bool{},
		takenOn:  map[string]int{},
	}
	defer b.wg.Wait()
	for {
		wait := r.opts.Interval + time.Duration(rand.Int64N(int64(r.opts.Interval)/5+1))
		if r.renewDue(ctx, b) {
			wait = busyPause
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// background is the state of one Run: the refreshes it has started and the
// slots they hold.
type background struct {
	slots    chan struct{} // Concurrency
	wg       sync.WaitGroup
	mu       sync.Mutex
	perConn  map[string]chan struct{} // connection ID -> ConnectionConcurrency slots
	inFlight map[string]bool          // token IDs started and not yet done
	takenOn  map[string]int           // connection ID -> its tokens in flight
}

// connectionSlots returns the slots of one connection's provider.
func (b *background) connectionSlots(connectionID string, n int) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.perConn[connectionID]
	if s == nil {
		s = make(chan struct{}, n)
		b.perConn[connectionID] = s
	}
	return s
}

// start marks a token in flight; false when it is already, or when its
// connection has perConn taken on.
func (b *background) start(tokenID, connectionID string, perConn int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight[tokenID] || b.takenOn[connectionID] >= perConn {
		return false
	}
	b.inFlight[tokenID] = true
	b.takenOn[connectionID]++
	return true
}

func (b *background) done(tokenID, connectionID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.inFlight, tokenID)
	if b.takenOn[connectionID]--; b.takenOn[connectionID] <= 0 {
		delete(b.takenOn, connectionID)
	}
}

// busyPause is the wait between passes while more tokens are due than the
// refresher has taken on.
const busyPause = 100 * time.Millisecond

// renewDue starts a refresh for each due token not already in flight, up to
// 4×Concurrency taken on at once and 2×ConnectionConcurrency per connection,
// and reports whether more may be due. A token waits for a slot of its
// connection before it takes one of Concurrency, and the list leaves out
// what is taken on, so that one slow provider's backlog never holds the
// slots, or hides the due tokens, of the others.
func (r *Refresher) renewDue(ctx context.Context, b *background) bool {
	b.mu.Lock()
	skip := make([]string, 0, len(b.inFlight))
	for id := range b.inFlight {
		skip = append(skip, id)
	}
	b.mu.Unlock()
	limit := 4 * r.opts.Concurrency
	if len(skip) >= limit {
		return true
	}
	due, err := r.store.DueTokens(ctx, r.opts.Now(), r.opts.Ahead, limit-len(skip), 2*r.opts.ConnectionConcurrency, skip)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.WarnContext(ctx, "listing tokens due for refresh", "error", err)
		}
		return false
	}
	listed := map[string]int{}
	more := len(due) == limit-len(skip)
	for _, t := range due {
		// A connection listed up to its cap may have more due.
		if listed[t.ConnectionID]++; listed[t.ConnectionID] == 2*r.opts.ConnectionConcurrency {
			more = true
		}
		if !b.start(t.ID, t.ConnectionID, 2*r.opts.ConnectionConcurrency) {
			continue
		}
		conn := b.connectionSlots(t.ConnectionID, r.opts.ConnectionConcurrency)
		b.wg.Go(func() {
			defer b.done(t.ID, t.ConnectionID)
			if !acquire(ctx, conn) {
				return
			}
			defer func() { <-conn }()
			if !acquire(ctx, b.slots) {
				return
			}
			defer func() { <-b.slots }()
			if err := r.renewListed(ctx, t.ID, t.Version); err != nil {
				r.opts.Logger.DebugContext(ctx, "background refresh did not renew", "token_id", t.ID, "error", err)
			}
		})
	}
	return more
}

func acquire(ctx context.Context, slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// RenewByID refreshes one stored token now, as the background refresher does.
func (r *Refresher) RenewByID(ctx context.Context, tokenID string) error {
	return r.renewListed(ctx, tokenID, 0)
}

// renewListed refreshes a token the background listed at version listed, unless it
// has been renewed since (by a read or another replica): the provider is
// asked once per due token, however many replicas listed it.
func (r *Refresher) renewListed(ctx context.Context, tokenID string, listed int64) error {
	t, err := r.store.TokenWithSecrets(ctx, tokenID)
	if err != nil {
		return err
	}
	if listed > 0 && t.Version > listed {
		return nil
	}
	conn, err := r.store.ConnectionByID(ctx, t.ConnectionID)
	if err != nil {
		return err
	}
	if err := r.refreshable(&t, &conn, r.opts.Now()); err != nil {
		return err
	}
	entity, err := r.store.EntityForToken(ctx, t)
	if err != nil {
		return err
	}
	_, err = r.refresh(ctx, tokenID, conn, entity, t.Version)
	return err
}
