package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the scratch schema
)

// measurePostgres runs a second integrationsd on PostgreSQL (a scratch schema)
// and compares its GetIntegration with the SQLite one's, side by side.
func measurePostgres(ctx context.Context, c config, sqlite *bench, t *table) error {
	if c.postgres == "" {
		return nil
	}
	admin, err := sql.Open("pgx", c.postgres)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		t.note(fmt.Sprintf("PostgreSQL at %s not reachable (%v): its figures are skipped", c.postgres, err))
		return nil
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return err
	}
	defer admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck // best effort
	sep := "?"
	if strings.Contains(c.postgres, "?") {
		sep = "&"
	}
	lite, post, err := sideBySide(ctx, c, sqlite, c.binary, "--db", c.postgres+sep+"search_path="+schema)
	if err != nil {
		return err
	}
	t.row("GetIntegration on SQLite", c.inFlight, lite)
	t.row("GetIntegration on PostgreSQL", c.inFlight, post)
	t.note(fmt.Sprintf("GetIntegration throughput PostgreSQL/SQLite: %.2f", post.rps()/lite.rps()))
	return nil
}
