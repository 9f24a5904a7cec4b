package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DefaultMaxConns is how many connections to PostgreSQL a store opens at
// most unless told otherwise (WithMaxConns): eight replicas take 80 of a
// default PostgreSQL's 100 (97 for roles that are not superusers), which
// leaves room for an operator's psql, monitoring and a deployment's ninth
// replica. See docs/operations.md for the arithmetic.
const DefaultMaxConns = 10

// MinMaxConns is the fewest connections a store can work with: one for each
// of its pools.
const MinMaxConns = 3

// WithMaxConns bounds the connections a store opens to PostgreSQL, all its
// pools together; 0 means DefaultMaxConns. SQLite is not bounded by it.
func WithMaxConns(n int) Option { return func(s *Store) { s.maxConns = n } }

// poolSizes splits a store's connections between its pools.
type poolSizes struct{ write, read, keys int }

// splitConns gives data key loads their own connection (see OpenSQLite),
// writes a third of the rest, at least one, and reads what remains: reads
// are most calls, while every write transaction also waits its turn for the
// generation row (see advanceGeneration), which more connections would not
// shorten. 25 connections split as the pools were sized before: 8, 16, 1.
func splitConns(total int) poolSizes {
	write := max(1, (total-1)/3)
	return poolSizes{write: write, read: total - 1 - write, keys: 1}
}

// OpenPostgres opens the PostgreSQL database at url (postgres://...) and applies
// the migrations it lacks, under a session lock so that replicas starting
// together migrate once.
//
// It opens at most WithMaxConns connections. A call that finds every
// connection of its pool busy waits for one until its context ends, and a
// connection PostgreSQL refuses for want of slots is tried again until then
// (slotWaiter).
func OpenPostgres(ctx context.Context, url string, cipher Cipher, opts ...Option) (*Store, error) {
	var configured Store
	for _, opt := range opts {
		opt(&configured)
	}
	maxConns := configured.maxConns
	switch {
	case maxConns == 0:
		maxConns = DefaultMaxConns
	case maxConns < MinMaxConns:
		return nil, fmt.Errorf("a PostgreSQL store needs at least %d connections, not %d", MinMaxConns, maxConns)
	}
	sizes := splitConns(maxConns)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	// Operators find a replica's connections in pg_stat_activity by name,
	// unless the URL names them otherwise.
	if _, named := cfg.RuntimeParams["application_name"]; !named {
		cfg.RuntimeParams["application_name"] = "integrationsd"
	}
	counters := &retryCounters{}
	connector := slotWaiter{Connector: stdlib.GetConnector(*cfg), counters: counters}
	open := func(maxConns int) *sqlx.DB {
		db := sqlx.NewDb(sql.OpenDB(connector), "pgx")
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		return db
	}
	write, read, keys := open(sizes.write), open(sizes.read), open(sizes.keys)
	closeAll := func() { write.Close(); read.Close(); keys.Close() }
	if err := write.PingContext(ctx); err != nil {
		closeAll()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if err := migrate(ctx, write.DB, goose.DialectPostgres, "migrations/postgres", goose.WithSessionLocker(locker)); err != nil {
		closeAll()
		return nil, err
	}
	s := newStore(write, read, keys, cipher, opts)
	s.retries = counters
	s.generations = newGenerationReader(queryGeneration(s.reader()), generationReadTimeout)
	return s, nil
}

// translatePostgres maps PostgreSQL constraint violations to the store's errors.
func translatePostgres(err error, what string) (error, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil, false
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%s: %w", what, ErrAlreadyExists), true
	case "23503": // foreign_key_violation
		return fmt.Errorf("%s: %w", what, ErrInUse), true
	}
	return nil, false
}
