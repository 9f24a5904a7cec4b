package store_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// Until migration 00010 the audit log was keyed, and paged, by event ID; it is
// numbered since. Events written before keep their newest-first order (the
// order of their IDs, not of their rows), and events written after come first.
func TestAuditEventsWrittenBeforeTheLogWasNumberedKeepTheirOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := testutil.Database(t)
	db := rawDB(t, path)
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if testutil.IsPostgres() {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	provider, err := goose.NewProvider(dialect, db, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = store.NewAuditID()
	}
	// Rows in another order than their IDs, as several writers' batches land.
	written := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, i := range []int{2, 0, 4, 1, 3} {
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (id, time, method, org_id, outcome) VALUES ($1, $2, 'M', $3, 'OK')`,
			ids[i], written.Add(time.Duration(i)*time.Second), "org-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openAt(t, path, testutil.Keyring(t))
	after := store.AuditEvent{ID: store.NewAuditID(), Time: written.Add(time.Hour), Method: "M", OrgID: "org-9", Outcome: "OK"}
	if err := s.InsertAuditEvents(ctx, []store.AuditEvent{after}); err != nil {
		t.Fatal(err)
	}
	var got []string
	page := store.Page{Limit: 2}
	for {
		events, err := s.ListAuditEvents(ctx, store.AuditFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			got = append(got, e.ID)
		}
		if len(events) < page.Limit {
			break
		}
		page.After = strconv.FormatInt(events[len(events)-1].Seq, 10)
	}
	want := []string{after.ID}
	for _, id := range slices.Backward(ids) {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages newest first: %v\nwant %v", got, want)
	}
	one, err := s.ListAuditEvents(ctx, store.AuditFilter{OrgID: "org-2"}, store.Page{Limit: 10})
	if err != nil || len(one) != 1 || one[0].ID != ids[2] || !one[0].Time.Equal(written.Add(2*time.Second)) {
		t.Fatalf("an old event by its organization: %+v, %v", one, err)
	}
}
