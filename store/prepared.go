package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// stmtCache keeps one prepared statement per query text for a pool. SQLite
// spends much of a small query's time compiling it; database/sql prepares a
// cached statement once per connection and reuses it after.
//
// The store writes every query once, with ? placeholders; a query is rebound
// to its pool's dialect ($1, $2 ... for PostgreSQL) where it is prepared or
// run here, the one place queries reach a pool.
type stmtCache struct {
	db        *sqlx.DB
	m         sync.Map // query -> *sqlx.Stmt
	preparing sync.Map // query -> struct{}, while a background prepare runs

	mu         sync.Mutex // guards closed against new background prepares
	closed     bool
	background sync.WaitGroup
}

func (c *stmtCache) cached(query string) *sqlx.Stmt {
	if st, ok := c.m.Load(query); ok {
		return st.(*sqlx.Stmt)
	}
	return nil
}

// prepare compiles query for the pool. It takes a connection of its own, so it
// must not run while the caller holds one in a transaction: with every
// connection held that way, it would wait forever.
func (c *stmtCache) prepare(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := c.db.PreparexContext(ctx, c.db.Rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// prepareLater compiles query in the background for the next caller.
func (c *stmtCache) prepareLater(query string) {
	if _, running := c.preparing.LoadOrStore(query, struct{}{}); running {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.preparing.Delete(query)
		return
	}
	c.background.Go(func() {
		defer c.preparing.Delete(query)
		_, _ = c.prepare(context.Background(), query)
	})
}

// close waits for background prepares, which would otherwise open connections
// (and database files) after the store is closed, then closes every statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.background.Wait()
	c.m.Range(func(_, st any) bool {
		st.(*sqlx.Stmt).Close()
		return true
	})
}

// preparedQueryer is an sqlx.QueryerContext that runs queries through the
// cache's prepared statements, inside tx when it is set. In a transaction, a
// query not prepared yet runs unprepared once while it is prepared aside.
type preparedQueryer struct {
	cache *stmtCache
	tx    *sqlx.Tx
}

// unprepared is where a query runs without a statement, and the query as
// its pool's dialect writes it.
func (q preparedQueryer) unprepared(query string) (sqlx.ExtContext, string) {
	query = q.cache.db.Rebind(query)
	if q.tx != nil {
		return q.tx, query
	}
	return q.cache.db, query
}

// stmt returns the prepared statement for query, or nil to run it unprepared.
func (q preparedQueryer) stmt(ctx context.Context, query string) *sqlx.Stmt {
	st := q.cache.cached(query)
	switch {
	case st != nil && q.tx != nil:
		return q.tx.StmtxContext(ctx, st)
	case st != nil:
		return st
	case q.tx != nil:
		q.cache.prepareLater(query)
		return nil
	}
	st, err := q.cache.prepare(ctx, query)
	if err != nil {
		return nil // the unprepared query reports the error
	}
	return st
}

func (q preparedQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	db, query := q.unprepared(query)
	return db.QueryContext(ctx, query, args...)
}

func (q preparedQueryer) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryxContext(ctx, args...)
	}
	db, query := q.unprepared(query)
	return db.QueryxContext(ctx, query, args...)
}

func (q preparedQueryer) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowxContext(ctx, args...)
	}
	db, query := q.unprepared(query)
	return db.QueryRowxContext(ctx, query, args...)
}

func (q preparedQueryer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	db, query := q.unprepared(query)
	return db.ExecContext(ctx, query, args...)
}
