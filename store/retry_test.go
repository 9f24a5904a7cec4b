package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/internal/testdb"
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
	if !testdb.IsPostgres() {
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

// A call that needs a new connection while PostgreSQL has no slot for one
// (too many clients, SQLSTATE 53300) waits for a slot within its deadline
// instead of failing: it is answered once a slot frees, and otherwise ends
// with its deadline, never as an unavailable database. The slots run out
// here by the connection limit of a role of the test's own, which PostgreSQL
// enforces with the same error as max_connections.
func TestACallWaitsForAConnectionSlotInsteadOfFailing(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): SQLite has no connection slots")
	}
	t.Parallel()
	for _, tc := range []struct {
		name      string
		slotAfter time.Duration // when a slot frees; 0: never
	}{
		{"a slot frees before the deadline", 300 * time.Millisecond},
		{"no slot frees before the deadline", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, admin, role := openAsLimitedRole(t)
			// The store holds the connections it opened at start; from now on
			// PostgreSQL refuses the role any more.
			var held int
			if err := admin.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&held); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Exec(fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT %d`, role, held)); err != nil {
				t.Fatal(err)
			}
			if tc.slotAfter > 0 {
				time.AfterFunc(tc.slotAfter, func() { _, _ = admin.Exec(`ALTER ROLE ` + role + ` CONNECTION LIMIT -1`) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := s.HasAPIKeys(ctx) // a read: the read pool has no connection yet
			switch {
			case tc.slotAfter > 0 && err != nil:
				t.Fatalf("a read while a slot frees after %v: %v, want an answer", tc.slotAfter, err)
			case tc.slotAfter == 0 && (!errors.Is(err, context.DeadlineExceeded) || store.IsUnavailable(err)):
				t.Fatalf("a read while no slot frees: %v, want its deadline exceeded, not an unavailable database", err)
			}
			if s.Retries().NoSlot == 0 {
				t.Fatal("PostgreSQL never refused a connection: the test did not take every slot")
			}
		})
	}
}

// openAsLimitedRole opens a store (of at most the fewest connections) on a
// new database as a login role of its own, made for the test and dropped
// after it, and returns it with a connection as the administrator and the
// role's name.
func openAsLimitedRole(t *testing.T) (*store.Store, *sql.DB, string) {
	t.Helper()
	dbURL := testdb.Database(t)
	migrated := openAt(t, dbURL, testutil.Keyring(t)) // migrations, as the administrator
	migrated.Close()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	role := "slots_" + schema
	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	admin.SetMaxOpenConns(1)
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT ALL ON ALL TABLES IN SCHEMA ` + schema + ` TO ` + role,
		`GRANT ALL ON ALL SEQUENCES IN SCHEMA ` + schema + ` TO ` + role,
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, stmt := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := admin.Exec(stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
		admin.Close()
	})
	u.User = url.User(role)
	s, err := store.Open(context.Background(), u.String(), testutil.Keyring(t), store.WithMaxConns(store.MinMaxConns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, admin, role
}
