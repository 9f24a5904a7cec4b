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

// OpenPostgres opens the PostgreSQL database at url (postgres://...) and applies
// the migrations it lacks, under a session lock so that replicas starting
// together migrate once.
//
// A call that finds every connection of its pool busy waits for one until
// its context ends, and a connection PostgreSQL refuses for want of slots is
// tried again until then (slotWaiter).
func OpenPostgres(ctx context.Context, url string, cipher Cipher, opts ...Option) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	counters := &retryCounters{}
	connector := slotWaiter{Connector: stdlib.GetConnector(*cfg), counters: counters}
	open := func(maxConns int) *sqlx.DB {
		db := sqlx.NewDb(sql.OpenDB(connector), "pgx")
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		return db
	}
	write, read, keys := open(8), open(16), open(1)
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
