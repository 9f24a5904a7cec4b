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

// start marks a token in flight; false when it is already.
func (b *background) start(tokenID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight[tokenID] {
		return false
	}
	b.inFlight[tokenID] = true
	return true
}

func (b *background) done(tokenID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.inFlight, tokenID)
}

// busyPause is the wait between passes while more tokens are due than the
// refresher has taken on.
const busyPause = 50 * time.Millisecond

// renewDue starts a refresh for each due token not already in flight, up to
// 4×Concurrency taken on at once, and reports whether more may be due. A
// token waits for a slot of its connection before it takes one of
// Concurrency, so that one slow provider's backlog never holds the slots of
// the others.
func (r *Refresher) renewDue(ctx context.Context, b *background) bool {
	b.mu.Lock()
	taken := len(b.inFlight)
	b.mu.Unlock()
	limit := 4 * r.opts.Concurrency
	if taken >= limit {
		return true
	}
	// The tokens in flight are listed too, until their refresh leases them:
	// the list reaches past them to the ones not yet taken on.
	due, err := r.store.DueTokens(ctx, r.opts.Now(), r.opts.Ahead, limit)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.WarnContext(ctx, "listing tokens due for refresh", "error", err)
		}
		return false
	}
	started := 0
	for _, t := range due {
		if taken+started >= limit {
			return true
		}
		if !b.start(t.ID) {
			continue
		}
		started++
		conn := b.connectionSlots(t.ConnectionID, r.opts.ConnectionConcurrency)
		b.wg.Go(func() {
			defer b.done(t.ID)
			if !acquire(ctx, conn) {
				return
			}
			defer func() { <-conn }()
			if !acquire(ctx, b.slots) {
				return
			}
			defer func() { <-b.slots }()
			if err := r.RenewByID(ctx, t.ID); err != nil {
				r.opts.Logger.DebugContext(ctx, "background refresh did not renew", "token_id", t.ID, "error", err)
			}
		})
	}
	// A full list of which nothing new started is in flight already: wait
	// for the next tick instead of listing it again at once.
	return len(due) == limit && started > 0
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
	t, err := r.store.TokenWithSecrets(ctx, tokenID)
	if err != nil {
		return err
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
