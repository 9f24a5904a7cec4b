package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// sqliteFileMode is the mode of the database and its -wal and -shm files:
// they hold every secret (sealed) and the wrapped data keys, for the
// service's user alone.
const sqliteFileMode fs.FileMode = 0o600

// restrictSQLiteFiles creates the database file 0600 before SQLite opens it,
// and brings an existing database, -wal or -shm file that is not 0600 (an
// older version's, a copy's) to 0600. SQLite itself creates a database 0644
// less the umask, and gives the -wal and -shm files it creates the database
// file's mode, so this decides all three whatever the directory and umask.
func restrictSQLiteFiles(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	// An existing file is not opened here: closing a descriptor drops every
	// POSIX lock the process holds on the file, SQLite's (another Store's in
	// this process) included. A file just created has none yet.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, sqliteFileMode)
	if err == nil {
		err = f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if info.Mode().Perm() != sqliteFileMode {
			if err := os.Chmod(name, sqliteFileMode); err != nil {
				return fmt.Errorf("making %s readable by its owner only (it is %v): %w", name, info.Mode().Perm(), err)
			}
		}
	}
	return nil
}
