package oauth

import (
	"context"
	"math/rand/v2"
	"time"
)

// Run renews tokens ahead of expiry until ctx ends, so that reads almost never
// wait on a provider. Every replica runs it; leases keep them from refreshing a
// token twice. Ticks are jittered so replicas do not scan in step.
func (r *Refresher) Run(ctx context.Context) {
	sem := make(chan struct{}, r.opts.Concurrency)
	for {
		jitter := time.Duration(rand.Int64N(int64(r.opts.Interval)/5 + 1))
		select {
		case <-ctx.Done():
			for range cap(sem) {
				sem <- struct{}{}
			}
			return
		case <-time.After(r.opts.Interval + jitter):
		}
		r.renewDue(ctx, sem)
	}
}

// renewDue starts a refresh for each due token, at most Concurrency at a time.
func (r *Refresher) renewDue(ctx context.Context, sem chan struct{}) {
	now := r.opts.Now()
	ids, err := r.store.DueTokens(ctx, now, r.opts.Ahead, 4*r.opts.Concurrency)
	if err != nil {
		r.opts.Logger.WarnContext(ctx, "listing tokens due for refresh", "error", err)
		return
	}
	for _, id := range ids {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		go func() {
			defer func() { <-sem }()
			if err := r.RenewByID(ctx, id); err != nil {
				r.opts.Logger.DebugContext(ctx, "background refresh did not renew", "token_id", id, "error", err)
			}
		}()
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
