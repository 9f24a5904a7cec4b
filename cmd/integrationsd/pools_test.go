package main

import (
	"io"
	"strings"
	"testing"

	"github.com/bifrost/integrations/store"
)

// --db-max-conns (or BIFROST_DB_MAX_CONNS) bounds a replica's PostgreSQL
// connections: by default few enough that eight replicas fit a default
// PostgreSQL with room to spare, and never fewer than one per pool.
func TestDBMaxConnsComesFromFlagOrEnvironmentWithinItsBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    int
		wantErr string
	}{
		{"default", nil, nil, store.DefaultMaxConns, ""},
		{"flag", []string{"--db-max-conns", "20"}, nil, 20, ""},
		{"environment", nil, map[string]string{"BIFROST_DB_MAX_CONNS": "6"}, 6, ""},
		{"flag over environment", []string{"--db-max-conns", "4"}, map[string]string{"BIFROST_DB_MAX_CONNS": "6"}, 4, ""},
		{"fewer than one per pool", []string{"--db-max-conns", "2"}, nil, 0, "--db-max-conns must be at least 3"},
		{"not a number", nil, map[string]string{"BIFROST_DB_MAX_CONNS": "many"}, 0, "BIFROST_DB_MAX_CONNS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c, err := parseFlags(tc.args, lookup, io.Discard)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || c.dbMaxConns != tc.want):
				t.Fatalf("--db-max-conns = %d, %v; want %d", c.dbMaxConns, err, tc.want)
			}
		})
	}
	// PostgreSQL keeps 3 of its default 100 connections for superusers.
	const defaultPostgresSlots, headroom = 100 - 3, 10
	if 8*store.DefaultMaxConns > defaultPostgresSlots-headroom {
		t.Fatalf("eight replicas of %d connections leave less than %d of a default PostgreSQL's %d for anything else",
			store.DefaultMaxConns, headroom, defaultPostgresSlots)
	}
}
