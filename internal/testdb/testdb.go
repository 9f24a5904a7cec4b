// Package testdb is the database each test gets: a SQLite file or a PostgreSQL
// schema of its own. It imports nothing of the service, so that the store's
// own (internal) tests can use it too.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create and drop test schemas
)

// DefaultPostgresURL is the local PostgreSQL the tests use (trust auth).
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Database returns the URL of a fresh, empty database for one test: a SQLite
// file in a temporary directory, or, with BIFROST_TEST_DB=postgres, a schema of
// its own in the PostgreSQL at BIFROST_TEST_POSTGRES_URL (default
// DefaultPostgresURL), dropped when the test ends. Without a reachable
// PostgreSQL the test is skipped, except in CI (CI=true), where it fails.
func Database(t testing.TB) string {
	t.Helper()
	if os.Getenv("BIFROST_TEST_DB") != "postgres" {
		return filepath.Join(t.TempDir(), "bifrost.db")
	}
	base := PostgresURL()
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is not reachable: %v", base, err)
		}
		t.Skipf("PostgreSQL at %s is not reachable (%v); skipping", base, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// PostgresURL is the PostgreSQL server the tests use: BIFROST_TEST_POSTGRES_URL,
// or DefaultPostgresURL.
func PostgresURL() string {
	if u := os.Getenv("BIFROST_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// IsPostgres reports whether the tests run against PostgreSQL.
func IsPostgres() bool { return os.Getenv("BIFROST_TEST_DB") == "postgres" }
