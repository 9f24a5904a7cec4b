package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// Filters find batches by the keys of any of their events, then select the
// events themselves: a batch holding org-1 and Halo in different events holds
// no event of org-1 on Halo. Pages walk back across batches.
func TestAuditFiltersSelectEventsInsideBatches(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	event := func(n int, org, integration, key string) store.AuditEvent {
		return store.AuditEvent{ID: fmt.Sprint("e", n), Time: t0.Add(time.Duration(n) * time.Second), APIKeyID: key, Method: "M",
			Integration: integration, OrgID: org, Outcome: "OK"}
	}
	for _, batch := range [][]store.AuditEvent{
		{event(1, "org-1", "Graph", "key-a"), event(2, "org-2", "Graph", "key-b"), event(3, "org-1", "Halo", "key-b")},
		{event(4, "org-2", "Halo", "key-a"), event(5, "org-1", "Graph", "key-a")},
	} {
		if err := s.InsertAuditEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		filter store.AuditFilter
		want   []string
	}{
		{"everything", store.AuditFilter{}, []string{"e5", "e4", "e3", "e2", "e1"}},
		{"an organization", store.AuditFilter{OrgID: "org-1"}, []string{"e5", "e3", "e1"}},
		{"an organization on an integration", store.AuditFilter{OrgID: "org-1", Integration: "Halo"}, []string{"e3"}},
		{"a key", store.AuditFilter{APIKeyID: "key-b"}, []string{"e3", "e2"}},
		{"all three", store.AuditFilter{OrgID: "org-2", Integration: "Halo", APIKeyID: "key-a"}, []string{"e4"}},
		{"nobody's", store.AuditFilter{OrgID: "org-3"}, nil},
		{"from a time", store.AuditFilter{Start: t0.Add(4 * time.Second)}, []string{"e5", "e4"}},
		{"until a time", store.AuditFilter{End: t0.Add(2 * time.Second)}, []string{"e1"}},
		{"a time range and an integration", store.AuditFilter{Start: t0.Add(2 * time.Second), End: t0.Add(5 * time.Second), Integration: "Graph"}, []string{"e2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, pageSize := range []int{1, 2, 10} {
				var got []string
				page := tc.filter
				for {
					events, err := s.ListAuditEvents(ctx, page, pageSize)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range events {
						got = append(got, e.ID)
					}
					if len(events) < pageSize {
						break
					}
					page.Before = events[len(events)-1].Seq
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("pages of %d: %v, want %v", pageSize, got, tc.want)
				}
			}
		})
	}
}

// Whatever a caller sent is stored as valid JSON and read back as it was
// stored: quotes and backslashes as they are, control characters and invalid
// UTF-8 replaced. An operator's SQL reads the same through the audit_events
// view.
func TestAuditEventsKeepEveryCharacterThroughTheirBatch(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	ctx := context.Background()
	sent := "say \"hi\" \\ back\x01\n é 日本 \xff</script>"
	stored := "say \"hi\" \\ back\uFFFD\uFFFD é 日本 \uFFFD</script>"
	e := store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), Method: "M", OrgID: sent, Outcome: "OK", Detail: sent}
	if err := s.InsertAuditEvents(ctx, []store.AuditEvent{e}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAuditEvents(ctx, store.AuditFilter{OrgID: stored}, 10)
	if err != nil || len(got) != 1 || got[0].Detail != stored || got[0].OrgID != stored || !got[0].Time.Equal(e.Time) {
		t.Fatalf("read back %+v, %v; want org and detail %q", got, err, stored)
	}
	var seq int64
	var detail string
	if err := rawDB(t, path).QueryRow(`SELECT seq, detail FROM audit_events WHERE id = $1`, e.ID).Scan(&seq, &detail); err != nil || detail != stored || seq != got[0].Seq {
		t.Fatalf("the view: seq %d, detail %q, %v; want %d, %q", seq, detail, err, got[0].Seq, stored)
	}
}

// Line separators and the invisible marks that reorder text are neutralised as
// control characters are, so that no audit text read back (by
// integrationsctl audit, or an operator's SQL) disguises a line.
func TestAuditTextNeutralisesEveryCharacterThatDisguisesALine(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	events := make([]store.AuditEvent, len(testutil.Disguising))
	for i, c := range testutil.Disguising {
		text := fmt.Sprintf("case %d: refresh failed%cOK granted", i, c.R)
		events[i] = store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), Method: "M", Integration: "Graph", OrgID: "org" + string(c.R), Outcome: "OK", Detail: text}
	}
	if err := s.InsertAuditEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAuditEvents(ctx, store.AuditFilter{Integration: "Graph"}, 100)
	if err != nil || len(got) != len(events) {
		t.Fatalf("read back %d events, %v; want %d", len(got), err, len(events))
	}
	byID := map[string]store.AuditEvent{}
	for _, e := range got {
		byID[e.ID] = e
	}
	for i, c := range testutil.Disguising {
		t.Run(c.Name, func(t *testing.T) {
			e := byID[events[i].ID]
			if want := fmt.Sprintf("case %d: refresh failed\uFFFDOK granted", i); e.Detail != want || e.OrgID != "org\uFFFD" {
				t.Fatalf("stored detail %q, org %q; want %q, %q", e.Detail, e.OrgID, want, "org\uFFFD")
			}
		})
	}
}

// Until migration 00010 the audit log was keyed, and paged, by event ID; it is
// numbered since. Events written before keep their newest-first order (the
// order of their IDs, not of their rows), and events written after come first.
func TestAuditEventsWrittenBeforeTheLogWasNumberedKeepTheirOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := testdb.Database(t)
	db := rawDBAtVersion(t, path, 9)
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = store.NewAuditID()
	}
	// Rows in another order than their IDs, as several writers' batches land.
	written := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rows []store.AuditEvent
	for _, i := range []int{2, 0, 4, 1, 3} {
		rows = append(rows, store.AuditEvent{ID: ids[i], Time: written.Add(time.Duration(i) * time.Second), Method: "M", OrgID: "org-" + strconv.Itoa(i), Outcome: "OK"})
	}
	writeUnnumberedAuditEvents(t, db, rows)
	db.Close()

	s := openAt(t, path, testutil.Keyring(t))
	after := store.AuditEvent{ID: store.NewAuditID(), Time: written.Add(time.Hour), Method: "M", OrgID: "org-9", Outcome: "OK"}
	if err := s.InsertAuditEvents(ctx, []store.AuditEvent{after}); err != nil {
		t.Fatal(err)
	}
	var got []string
	var page store.AuditFilter
	for {
		events, err := s.ListAuditEvents(ctx, page, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			got = append(got, e.ID)
		}
		if len(events) < 2 {
			break
		}
		page.Before = events[len(events)-1].Seq
	}
	want := []string{after.ID}
	for _, id := range slices.Backward(ids) {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages newest first: %v\nwant %v", got, want)
	}
	one, err := s.ListAuditEvents(ctx, store.AuditFilter{OrgID: "org-2"}, 10)
	if err != nil || len(one) != 1 || one[0].ID != ids[2] || !one[0].Time.Equal(written.Add(2*time.Second)) {
		t.Fatalf("an old event by its organization: %+v, %v", one, err)
	}
}

// During a rolling upgrade on PostgreSQL, replicas of the previous version keep
// writing audit events while the first new one migrates the log: a batch open
// when the migration starts, one begun while it runs and one after it are all
// kept. Migration 00010 numbered the log, 00012 stored it in batches (the old
// replicas' inserts then go through the audit_events view).
func TestAuditEventsWrittenWhileTheLogIsMigratedAreKept(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("only replicas sharing PostgreSQL write while another migrates")
	}
	t.Parallel()
	for _, version := range []int64{9, 11} {
		t.Run(fmt.Sprint("from version ", version), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := testdb.Database(t)
			db := rawDBAtVersion(t, path, version)
			const insert = `INSERT INTO audit_events (id, time, method, org_id, outcome) VALUES ($1, now(), 'M', 'org-old', 'OK')`
			open, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			openID, laterID, afterID := store.NewAuditID(), store.NewAuditID(), store.NewAuditID()
			if _, err := open.ExecContext(ctx, insert, openID); err != nil {
				t.Fatal(err)
			}
			keys := testutil.Keyring(t)
			migrated := make(chan error, 1)
			go func() {
				s, err := store.Open(ctx, path, keys)
				if err == nil {
					err = s.Close()
				}
				migrated <- err
			}()
			waitForLockWaiters(t, db, 1)
			later := make(chan error, 1)
			go func() {
				_, err := db.ExecContext(ctx, insert, laterID)
				later <- err
			}()
			waitForLockWaiters(t, db, 2)
			if err := open.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-migrated; err != nil {
				t.Fatal(err)
			}
			if err := <-later; err != nil {
				t.Fatalf("a write queued behind the migration: %v", err)
			}
			if _, err := db.ExecContext(ctx, insert, afterID); err != nil {
				t.Fatalf("a write after the migration: %v", err)
			}
			events, err := openAt(t, path, keys).ListAuditEvents(ctx, store.AuditFilter{OrgID: "org-old"}, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.ID)
			}
			if len(got) != 3 || got[0] != afterID || !slices.Contains(got, openID) || !slices.Contains(got, laterID) {
				t.Fatalf("events of the old replica, newest first: %v; want %s, then %s and %s", got, afterID, openID, laterID)
			}
		})
	}
}

// Reverting migration 00012 puts every event back as a row of its own, with
// its number and time, and applying it again puts them back in batches.
func TestAuditMigrationRevertsToOneRowPerEventAndBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openStore(t)
	written := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	var events []store.AuditEvent
	for i := range 3 {
		events = append(events, store.AuditEvent{ID: store.NewAuditID(), Time: written.Add(time.Duration(i) * time.Second), Method: "M", OrgID: "org-1", Outcome: "OK"})
	}
	if err := s.InsertAuditEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	before, err := s.ListAuditEvents(ctx, store.AuditFilter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	provider := migrationsOn(t, db)
	if _, err := provider.DownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM audit_events WHERE org_id = 'org-1'`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("rows after reverting: %d, %v; want 3", rows, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := s.ListAuditEvents(ctx, store.AuditFilter{OrgID: "org-1"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("events after reverting and migrating again: %+v, want %+v", after, before)
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Seq != before[i].Seq || !after[i].Time.Equal(before[i].Time) {
			t.Fatalf("event %d: %+v, want %+v", i, after[i], before[i])
		}
	}
}

// rawDBAtVersion opens the database behind the store's back with its schema
// migrated up to version, as a previous release left it.
func rawDBAtVersion(t testing.TB, path string, version int64) *sql.DB {
	t.Helper()
	db := rawDB(t, path)
	if _, err := migrationsOn(t, db).UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return db
}

// migrationsOn is the store's migrations, to apply or revert on db by hand.
func migrationsOn(t testing.TB, db *sql.DB) *goose.Provider {
	t.Helper()
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if testdb.IsPostgres() {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	provider, err := goose.NewProvider(dialect, db, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return provider
}

// waitForLockWaiters waits until n sessions wait for a lock on audit_events.
func waitForLockWaiters(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		var waiting int
		if err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE relation = 'audit_events'::regclass AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting < n {
			return fmt.Errorf("%d sessions wait for audit_events, want %d", waiting, n)
		}
		return nil
	})
}

// writeUnnumberedAuditEvents writes events, in their order, into an audit log
// as it was before migration 00010 numbered it.
func writeUnnumberedAuditEvents(t testing.TB, db *sql.DB, events []store.AuditEvent) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const columns = 7
	for len(events) > 0 {
		batch := events[:min(len(events), 100)]
		events = events[len(batch):]
		var query strings.Builder
		query.WriteString(`INSERT INTO audit_events (id, time, api_key_id, method, integration, org_id, outcome) VALUES `)
		args := make([]any, 0, len(batch)*columns)
		for i, e := range batch {
			if i > 0 {
				query.WriteString(", ")
			}
			n := i * columns
			fmt.Fprintf(&query, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
			args = append(args, e.ID, e.Time.UTC(), e.APIKeyID, e.Method, e.Integration, e.OrgID, e.Outcome)
		}
		if _, err := tx.Exec(query.String(), args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
