package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// generationSource says what the generation is now and moves it forward for
// every tracked write.
type generationSource interface {
	read(ctx context.Context) (Generation, error)
	// scoped returns a context whose reads share one reading, where that saves
	// a query (see Store.WithGenerationScope).
	scoped(ctx context.Context) context.Context
	// advance moves counter forward in tx and returns what to do once tx has
	// committed.
	advance(ctx context.Context, tx writeTx, counter generationCounter) (committed func(), err error)
	close()
}

// localGeneration is the generation of a SQLite database held in memory: a
// SQLite database belongs to one process (see OpenSQLite), so every write to it
// is a commit of one of that process's stores, and a counter they all advance
// after committing answers every call without a query. The counter is only
// advanced after the commit it stands for, so a call that sees it reads at
// least that commit. The counters are loaded one after the other, not as a
// set: each is checked only against entries tagged with the same counter.
type localGeneration struct {
	all, definitions, tokens atomic.Int64
	files                    *sqliteFiles
	file                     fileID
	users                    int // stores of the process using it; guarded by files.mu
}

func (g *localGeneration) read(context.Context) (Generation, error) {
	return Generation{All: g.all.Load(), Definitions: g.definitions.Load(), Tokens: g.tokens.Load()}, nil
}

func (g *localGeneration) scoped(ctx context.Context) context.Context { return ctx }

// advance reads the generation tx writes back with a query of its own: an
// UPDATE ... RETURNING made every small write a fifth slower on SQLite.
// What it reads back includes the Definitions counter as tx's triggers left it.
func (g *localGeneration) advance(ctx context.Context, tx writeTx, counter generationCounter) (func(), error) {
	if err := advanceGeneration(ctx, tx, counter); err != nil {
		return nil, err
	}
	generation, err := readGeneration(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("after advancing it: %w", err)
	}
	return func() {
		moveForward(&g.definitions, generation.Definitions)
		moveForward(&g.tokens, generation.Tokens)
		moveForward(&g.all, generation.All)
	}, nil
}

// moveForward moves counter to generation unless it is there already: two
// writers can finish their commits in either order.
func moveForward(counter *atomic.Int64, generation int64) {
	for {
		current := counter.Load()
		if generation <= current || counter.CompareAndSwap(current, generation) {
			return
		}
	}
}

// release is one store's close.
func (g *localGeneration) release() {
	g.files.mu.Lock()
	defer g.files.mu.Unlock()
	if g.users--; g.users == 0 {
		delete(g.files.open, g.file)
	}
}

// storeGeneration is one store's share of a localGeneration: closing a store
// twice must not release another store's share.
type storeGeneration struct {
	*localGeneration
	released sync.Once
}

func (g *storeGeneration) close() { g.released.Do(g.release) }

// sqliteFiles holds one localGeneration per SQLite file open in the process.
//
// It is the store's one piece of process-wide state, and mirrors SQLite's own:
// the unix-excl lock and the WAL index are per process and per file too. Two
// stores on one file in one process (the replica tests open several) must see
// each other's writes, so they share one counter.
type sqliteFiles struct {
	mu   sync.Mutex
	open map[fileID]*localGeneration
}

var openSQLiteFiles = &sqliteFiles{open: map[fileID]*localGeneration{}}

// fileID names a file whatever path it was opened by.
type fileID struct{ device, inode uint64 }

// attach returns the generation of the SQLite file at path, reading it with
// query when no other store of the process has the file open.
func (f *sqliteFiles) attach(ctx context.Context, path string, query func(context.Context) (Generation, error)) (*storeGeneration, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identifying the database file: %w", err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("identifying the database file %s: no device and inode", path)
	}
	file := fileID{device: uint64(st.Dev), inode: st.Ino} // Dev is not uint64 on every platform
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.open[file]; g != nil {
		g.users++
		return &storeGeneration{localGeneration: g}, nil
	}
	generation, err := query(ctx)
	if err != nil {
		return nil, err
	}
	g := &localGeneration{files: f, file: file, users: 1}
	g.all.Store(generation.All)
	g.definitions.Store(generation.Definitions)
	g.tokens.Store(generation.Tokens)
	f.open[file] = g
	return &storeGeneration{localGeneration: g}, nil
}
