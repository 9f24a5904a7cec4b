package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// The database and its -wal and -shm files hold every secret: opened in a
// directory that already exists, they are 0600 whatever the umask, and an
// older version's 0644 files are brought to 0600.
func TestSQLiteFilesAreReadableByTheirOwnerOnly(t *testing.T) {
	// Not parallel: the umask is the process's.
	if testdb.IsPostgres() {
		t.Skip("PostgreSQL keeps no files of ours")
	}
	ring := testutil.Keyring(t)
	for _, tc := range []struct {
		name  string
		umask int
		// older leaves files at path before the open.
		older func(t *testing.T, path string)
	}{
		{"a new database, umask 022", 0o022, nil},
		{"a new database, umask 000", 0o000, nil},
		{"an older version's 0644 database, WAL and shared memory", 0o022, func(t *testing.T, path string) {
			s, err := store.Open(context.Background(), path, ring)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, name := range []string{path + "-wal", path + "-shm"} {
				if err := os.WriteFile(name, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Chmod(name, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "bifrost.db")
			if tc.older != nil {
				tc.older(t, path)
			}
			defer syscall.Umask(syscall.Umask(tc.umask))
			s, err := store.Open(context.Background(), path, ring)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"bifrost.db", "bifrost.db-wal", "bifrost.db-shm"} {
				info, err := os.Stat(filepath.Join(dir, name))
				if os.IsNotExist(err) && name == "bifrost.db-shm" {
					continue // the unix-excl VFS keeps the WAL index in memory
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := info.Mode().Perm(); got != 0o600 {
					t.Errorf("%s is %v, want -rw-------", name, got)
				}
			}
		})
	}
}
