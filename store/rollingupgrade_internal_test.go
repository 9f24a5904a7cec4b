package store

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/bifrost/integrations/internal/testdb"
)

// TestReplicaOfThePreviousVersionReadsTheGenerationAfterMigration17 is a
// rolling deployment on PostgreSQL: a replica of the previous version has
// prepared its read of the generation (every call's first query) when a
// replica of this version starts and applies the migrations it brings. The
// old replica must go on reading the generation: a migration that changes
// the type of a column it reads makes PostgreSQL refuse its prepared
// statement ("cached plan must not change result type") on every call, until
// it is restarted.
func TestReplicaOfThePreviousVersionReadsTheGenerationAfterMigration17(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres: SQLite prepares a statement again after a schema change")
	}
	ctx := context.Background()
	url := testdb.Database(t)
	fsys, err := fs.Sub(migrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	migrator, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer migrator.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, migrator, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}

	// The previous version's replica: its generation query, prepared.
	old, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.SetMaxOpenConns(1)
	read, err := old.PrepareContext(ctx, `SELECT value, definitions FROM generation WHERE id = 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	var value, definitions int64
	if err := read.QueryRowContext(ctx).Scan(&value, &definitions); err != nil {
		t.Fatal(err)
	}

	// This version's replica starts and migrates.
	if _, err := provider.Up(ctx); err != nil {
		t.Fatal(err)
	}

	for i := range 3 {
		if err := read.QueryRowContext(ctx).Scan(&value, &definitions); err != nil {
			t.Fatalf("read %d of the generation by the previous version's replica after the migrations: %v", i, err)
		}
	}
}
