package store_test

import (
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testdb"
)

// rawDB opens the database behind the store's back, as an attacker with a copy
// of it (or a careless operator) would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite3", "file:"+path+"?_busy_timeout=5000"
	if testdb.IsPostgres() {
		driver, dsn = "pgx", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDump returns everything the database holds: the SQLite files, or every
// row of every table of the PostgreSQL schema as text.
func rawDump(t *testing.T, path string) []byte {
	t.Helper()
	if !testdb.IsPostgres() {
		var dump []byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(path + suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			dump = append(dump, b...)
		}
		return dump
	}
	db := rawDB(t, path)
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var dump strings.Builder
	for _, table := range tables {
		rows, err := db.Query(`SELECT t::text FROM ` + table + ` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			dump.WriteString(row + "\n")
		}
		rows.Close()
	}
	return []byte(dump.String())
}
