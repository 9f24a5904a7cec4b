package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// openSQLiteEnv makes this test binary, run again as a child, open the SQLite
// database it names and print the outcome instead of running tests; with
// dieWritingEnv set as well, it creates that integration and exits without
// closing the database, as a crash would.
const (
	openSQLiteEnv = "BIFROST_TEST_OPEN_SQLITE"
	dieWritingEnv = "BIFROST_TEST_DIE_WRITING"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(openSQLiteEnv); path != "" {
		s, err := store.OpenSQLite(context.Background(), path, nil)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		if name := os.Getenv(dieWritingEnv); name != "" {
			if _, err := s.CreateIntegration(context.Background(), store.Integration{Name: name}); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			os.Exit(0)
		}
		s.Close()
		fmt.Println("opened")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// inAnotherProcess opens the SQLite database at path from a child process,
// with env added to its environment, and returns what it printed.
func inAnotherProcess(t *testing.T, path string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), openSQLiteEnv+"="+path), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// One process serves a SQLite database (its WAL index lives in that process's
// memory): another process cannot open it while the first has it open, is told
// why, and can once the first has closed it.
func TestSQLiteDatabaseBelongsToOneProcess(t *testing.T) {
	if testdb.IsPostgres() {
		t.Skip("SQLite only")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bifrost.db")
	// A second store in the same process shares the database, as the tests'
	// replicas do.
	var stores []*store.Store
	for range 2 {
		s, err := store.OpenSQLite(context.Background(), path, testutil.Keyring(t))
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	out, err := inAnotherProcess(t, path)
	if err == nil || !strings.Contains(out, "in use by another process") {
		t.Fatalf("another process opened the database in use: %v, %q", err, out)
	}
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := inAnotherProcess(t, path); err != nil || out != "opened" {
		t.Fatalf("another process after the first closed the database: %v, %q", err, out)
	}
}

// The WAL index lives in the serving process's memory: a process that dies
// without closing the database leaves only the WAL file, from which the next
// one recovers every committed write.
func TestSQLiteRecoversWritesOfAProcessThatDied(t *testing.T) {
	if testdb.IsPostgres() {
		t.Skip("SQLite only")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bifrost.db")
	if out, err := inAnotherProcess(t, path, dieWritingEnv+"=Halo"); err != nil {
		t.Fatalf("the child that writes and dies: %v, %q", err, out)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("the child left no WAL to recover from: %v", err)
	}
	s := openAt(t, path, testutil.Keyring(t))
	if _, err := s.GetIntegration(context.Background(), "Halo"); err != nil {
		t.Fatalf("the dead process's committed write: %v", err)
	}
}
