package store_test

import (
	"database/sql"
	"testing"
)

// rawDB opens the database file behind the store's back, as an attacker with a
// copy of the file (or a careless operator) would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
