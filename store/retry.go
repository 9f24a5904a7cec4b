package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// What the store does about a database error is declared here, once: which
// errors runTx answers by running the transaction again, which the
// PostgreSQL connector answers by connecting again, and which mean the
// database is unreachable (the server's UNAVAILABLE). Everything else is
// the caller's to handle.
type dbErrorKind int

const (
	// otherError is any error not below: returned as it is.
	otherError dbErrorKind = iota
	// conflict: PostgreSQL rolled the transaction back because it collided
	// with a concurrent one (40001 serialization_failure, 40P01
	// deadlock_detected). Run again, it usually commits: runTx does, up to
	// txAttempts times.
	conflict
	// noSlot: PostgreSQL refused a new connection because it has no slot
	// left (53300 too_many_connections: max_connections, or the role's
	// connection limit, is reached). A slot frees as soon as any client
	// closes one: the connector tries again, backing off, for as long as
	// the caller's context allows.
	noSlot
	// unreachable: the database is down, restarting, shutting down or cut
	// off (class 08, 57P01 to 57P03, a connection lost mid-query), or SQLite
	// stayed busy past its busy timeout. Calls fail UNAVAILABLE for the
	// client to retry; nothing here waits for it to come back.
	unreachable
)

// kindOf sorts err by what the store does about it.
func kindOf(err error) dbErrorKind {
	// The caller's own deadline or cancellation is not the database's state
	// (and context.DeadlineExceeded would pass for a net.Error below).
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return otherError
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked {
			return unreachable
		}
		return otherError
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001" || pe.Code == "40P01":
			return conflict
		case pe.Code == "53300":
			return noSlot
		case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P"):
			return unreachable
		}
		return otherError
	}
	// A connection lost mid-query reaches here as pgx's read or write error:
	// an unexpected EOF, a network error or a closed connection.
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) || errors.As(err, &ne) {
		return unreachable
	}
	return otherError
}

// IsUnavailable reports whether err says the database is unreachable for
// now, so the call may be retried later: SQLite busy or locked, a PostgreSQL
// connection failure or loss, a shutdown or restart, or no connection slot
// to be had before the caller's deadline. A transaction conflict is not: the
// store retries those itself (ErrConflict when it gives up).
func IsUnavailable(err error) bool {
	switch kindOf(err) {
	case unreachable, noSlot:
		return true
	}
	return false
}

// ErrConflict is returned for a write transaction that collided with
// concurrent ones on every one of its txAttempts runs.
var ErrConflict = errors.New("the change collided with concurrent changes on every attempt")

// txAttempts bounds the runs of a write transaction that keeps colliding
// with concurrent ones. Between runs it backs off for txBackoff, doubling,
// with jitter, so that the transactions that collided do not collide again.
const (
	txAttempts = 5
	txBackoff  = 5 * time.Millisecond
)

// Backoff between attempts to connect while PostgreSQL has no slot free:
// from the first to the longest, doubling, with jitter.
const (
	slotBackoffFirst = 10 * time.Millisecond
	slotBackoffMax   = time.Second
)

// jittered returns a wait between half of d and d, at random.
func jittered(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// sleepCtx waits for d, or until ctx ends (then its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// RetryCounts are how often the store retried, since it was opened.
type RetryCounts struct {
	// Conflicts counts write transactions run again after a serialization
	// failure or deadlock.
	Conflicts int64
	// NoSlot counts connection attempts PostgreSQL refused for want of a
	// slot (too many clients), each tried again after a backoff.
	NoSlot int64
}

// retryCounters is RetryCounts as they are counted.
type retryCounters struct{ conflicts, noSlot atomic.Int64 }

// Retries returns how often the store retried.
func (s *Store) Retries() RetryCounts {
	return RetryCounts{Conflicts: s.retries.conflicts.Load(), NoSlot: s.retries.noSlot.Load()}
}

// retryConflicts runs attempt, a whole write transaction, again while it
// ends in a conflict: at most txAttempts times, and not past ctx's end.
func retryConflicts(ctx context.Context, counters *retryCounters, attempt func() error) error {
	wait := txBackoff
	for n := 1; ; n++ {
		err := attempt()
		if kindOf(err) != conflict {
			return err
		}
		if n == txAttempts {
			return fmt.Errorf("%w (%d attempts): %w", ErrConflict, n, err)
		}
		if ctxErr := sleepCtx(ctx, jittered(wait)); ctxErr != nil {
			return fmt.Errorf("%w while retrying after: %w", ctxErr, err)
		}
		counters.conflicts.Add(1)
		wait *= 2
	}
}

// slotWaiter is a connector that, when PostgreSQL refuses a connection for
// want of a slot, connects again after a backoff until it gets one or the
// context of the caller that needs it ends. database/sql would hand the
// refusal to the call instead, and a replica started beside others that
// fill the server would fail calls rather than wait for a slot.
type slotWaiter struct {
	driver.Connector
	counters *retryCounters
}

func (c slotWaiter) Connect(ctx context.Context) (driver.Conn, error) {
	wait := slotBackoffFirst
	for {
		conn, err := c.Connector.Connect(ctx)
		if kindOf(err) != noSlot {
			return conn, err
		}
		c.counters.noSlot.Add(1)
		if ctxErr := sleepCtx(ctx, jittered(wait)); ctxErr != nil {
			return nil, fmt.Errorf("waiting for a PostgreSQL connection slot: %w (last refusal: %w)", ctxErr, err)
		}
		wait = min(2*wait, slotBackoffMax)
	}
}
