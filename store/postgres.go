package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// OpenPostgres opens the PostgreSQL database at url (postgres://...) and applies
// the migrations it lacks, under a session lock so that replicas starting
// together migrate once.
func OpenPostgres(ctx context.Context, url string, cipher Cipher, opts ...Option) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	connector := stdlib.GetConnector(*cfg)
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

// IsUnavailable reports whether err says the database is busy or unreachable
// for now, so the call may be retried: SQLite busy or locked, a PostgreSQL
// connection failure or loss, shutdown or lack of connections.
func IsUnavailable(err error) bool {
	// The caller's own deadline or cancellation is not the database's state
	// (and context.DeadlineExceeded would pass for a net.Error below).
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300" || pe.Code == "40001"
	}
	// A connection lost mid-query reaches here as pgx's read or write error:
	// an unexpected EOF, a network error or a closed connection.
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) || errors.As(err, &ne)
}
