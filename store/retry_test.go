package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// A write transaction PostgreSQL rolls back for colliding with another (a
// serialization failure, a deadlock) is run again, whole, in a new
// transaction, a bounded number of times; what a rolled-back run wrote is
// gone, and the caller sees an error only when every run collided
// (ErrConflict) or its deadline came first.
func TestCollidingWriteTransactionsAreRunAgainABoundedNumberOfTimes(t *testing.T) {
	t.Parallel()
	serialization := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	cases := []struct {
		name      string
		collide   []error // what run i returns after its write; nil: it commits
		cancel    bool    // the caller's context ends during the first run
		wantRuns  int
		wantError error // nil: it commits
	}{
		{"a serialization failure, then success", []error{serialization}, false, 2, nil},
		{"deadlocks, then success", []error{deadlock, deadlock, deadlock}, false, 4, nil},
		{"a collision on every run", []error{deadlock, deadlock, deadlock, deadlock, deadlock, deadlock}, false, store.TxAttempts, store.ErrConflict},
		{"an error that is not a collision", []error{store.ErrInvalid}, false, 1, store.ErrInvalid},
		{"a caller gone before the run again", []error{deadlock, deadlock}, true, 1, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := openStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := sequence(t, s)
			runs := 0
			err := s.InTx(ctx, func(tx store.WriteTx) error {
				runs++
				if _, err := tx.ExecContext(ctx, `UPDATE audit_sequence SET next = next + 1`); err != nil {
					return err
				}
				if tc.cancel {
					cancel()
				}
				if runs <= len(tc.collide) && tc.collide[runs-1] != nil {
					return fmt.Errorf("writing: %w", tc.collide[runs-1])
				}
				return nil
			})
			if !errors.Is(err, tc.wantError) || (tc.wantError == nil && err != nil) {
				t.Fatalf("after %d runs: %v, want %v", runs, err, tc.wantError)
			}
			if runs != tc.wantRuns {
				t.Fatalf("fn ran %d times, want %d", runs, tc.wantRuns)
			}
			wantWrites := int64(0)
			if err == nil {
				wantWrites = 1
			}
			if got := sequence(t, s) - before; got != wantWrites {
				t.Fatalf("the sequence moved by %d, want %d: a rolled-back run's write was kept", got, wantWrites)
			}
			if got := s.Retries().Conflicts; got != int64(runs-1) {
				t.Fatalf("%d conflicts counted after %d runs, want one per run again", got, runs)
			}
		})
	}
}

func sequence(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var next int64
	if err := s.InTx(context.Background(), func(tx store.WriteTx) error {
		return sqlx.GetContext(context.Background(), tx, &next, `SELECT next FROM audit_sequence`)
	}); err != nil {
		t.Fatal(err)
	}
	return next
}

// Two write transactions that lock the same rows in opposite orders
// deadlock; PostgreSQL aborts one, which the store runs again, and both
// commit.
func TestDeadlockedWriteTransactionsBothCommit(t *testing.T) {
	if !testutil.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): SQLite runs one write transaction at a time")
	}
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	for _, name := range []string{"A", "B"} {
		if _, err := s.CreateIntegration(ctx, store.Integration{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	var firstLocks sync.WaitGroup
	firstLocks.Add(2)
	lockBoth := func(first, second string) error {
		firstRun := true
		return s.InTx(ctx, func(tx store.WriteTx) error {
			runs.Add(1)
			if _, err := tx.ExecContext(ctx, `UPDATE integrations SET description = 'x' WHERE name = ?`, first); err != nil {
				return err
			}
			if firstRun {
				// Both hold their first row before either asks for its second.
				firstRun = false
				firstLocks.Done()
				firstLocks.Wait()
			}
			_, err := tx.ExecContext(ctx, `UPDATE integrations SET description = 'y' WHERE name = ?`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth("A", "B") }()
	go func() { errs <- lockBoth("B", "A") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a deadlocked transaction failed instead of running again: %v", err)
		}
	}
	if n := runs.Load(); n != 3 || s.Retries().Conflicts != 1 {
		t.Fatalf("%d runs, %d conflicts counted; want 3 runs (one deadlock victim run again), 1 conflict", n, s.Retries().Conflicts)
	}
}
