// Package store keeps integrations, OAuth connections and tokens, mappings and API
// keys in SQL, with every secret column sealed by a Cipher bound to its row and
// column.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/bifrost/integrations/internal/textsafe"
	"github.com/bifrost/integrations/keyring"
)

// Errors the store returns, wrapped with what was looked for. The server maps them
// to gRPC codes.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrInUse is returned for a delete that other rows still depend on.
	ErrInUse = errors.New("in use")
	// ErrInvalid is returned for a write that breaks a rule only the stored data
	// can tell, such as a token of another connection.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden is returned for a write the caller's kind of key may not
	// make, where only the stored data can tell (binding an entity).
	ErrForbidden = errors.New("forbidden")
)

// Cipher seals secret column values. aad names the row and column; a ciphertext
// must not open under any other aad.
type Cipher interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

//go:embed migrations
var migrations embed.FS

// Store is safe for concurrent use.
type Store struct {
	// SQLite allows one writer at a time: writes go through one connection so they
	// queue in Go instead of failing with SQLITE_BUSY, while reads use a pool.
	write       *sqlx.DB
	read        *sqlx.DB
	keys        *sqlx.DB
	stmts       *stmtCache // prepared statements of the read pool
	writeStmts  *stmtCache // and of the write pool
	generations generationSource
	cache       *readCache
	cipher      Cipher
	now         func() time.Time
	maxConns    int // WithMaxConns, for OpenPostgres
	retries     *retryCounters
}

// Option configures a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// OpenSQLite opens (creating if needed) the SQLite database at path and applies
// the migrations it lacks.
//
// The process keeps the database to itself (SQLite's unix-excl VFS): with no
// other process to coordinate with, SQLite keeps its WAL index in memory and
// takes no file lock per transaction, and the generation every call checks is
// held in memory (localGeneration). Replicas share PostgreSQL instead.
func OpenSQLite(ctx context.Context, path string, cipher Cipher, opts ...Option) (*Store, error) {
	if err := restrictSQLiteFiles(path); err != nil {
		return nil, err
	}
	params := url.Values{
		"_journal_mode": {"WAL"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"on"},
		"_synchronous":  {"NORMAL"},
		"vfs":           {"unix-excl"},
	}
	writeParams := url.Values{"_txlock": {"immediate"}}
	for k, v := range params {
		writeParams[k] = v
	}
	write := sqlx.NewDb(sql.OpenDB(newSQLiteWriter("file:"+path+"?"+writeParams.Encode())), "sqlite3")
	write.SetMaxOpenConns(1)
	if err := migrate(ctx, write.DB, goose.DialectSQLite3, "migrations/sqlite"); err != nil {
		write.Close()
		if IsUnavailable(err) {
			return nil, fmt.Errorf("%s is in use by another process (one integrationsd per SQLite database; replicas share PostgreSQL): %w", path, err)
		}
		return nil, err
	}
	params.Set("_query_only", "true")
	read, err := sqlx.Open("sqlite3", "file:"+path+"?"+params.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	// Data keys are loaded while a decryption waits, possibly inside a
	// transaction that holds a pooled connection: they get a connection of
	// their own, so that a reload can never wait for one of those.
	keys, err := sqlx.Open("sqlite3", "file:"+path+"?"+params.Encode())
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	keys.SetMaxOpenConns(1)
	generations, err := openSQLiteFiles.attach(ctx, path, queryGeneration(read))
	if err != nil {
		write.Close()
		read.Close()
		keys.Close()
		return nil, err
	}
	s := newStore(write, read, keys, cipher, opts)
	s.generations = generations
	return s, nil
}

// walPagesPerCheckpoint is how much WAL the write connection lets grow before
// copying it into the database (SQLite's default is 1,000 pages, 4 MB). Each
// audit batch adds a key row for every organization in it, and events spread
// over many organizations dirty a page of the key index each: a checkpoint
// copies a page once however often it changed since the last, so rarer
// checkpoints make audit inserts of many organizations cheaper
// (BenchmarkInsertAuditEvents), for a WAL file of up to 40 MB.
const walPagesPerCheckpoint = 10000

// sqliteWriter opens the write connection with the settings its DSN cannot
// carry.
type sqliteWriter struct {
	dsn    string
	driver sqlite3.SQLiteDriver
}

func newSQLiteWriter(dsn string) *sqliteWriter {
	return &sqliteWriter{dsn: dsn, driver: sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walPagesPerCheckpoint), nil)
		return err
	}}}
}

func (w *sqliteWriter) Connect(context.Context) (driver.Conn, error) { return w.driver.Open(w.dsn) }

func (w *sqliteWriter) Driver() driver.Driver { return &w.driver }

// Open opens the database a URL names: postgres://... or postgresql://... for
// PostgreSQL; sqlite:PATH, sqlite://PATH or a bare path for SQLite.
func Open(ctx context.Context, dbURL string, cipher Cipher, opts ...Option) (*Store, error) {
	if IsPostgres(dbURL) {
		return OpenPostgres(ctx, dbURL, cipher, opts...)
	}
	path, err := SQLitePath(dbURL)
	if err != nil {
		return nil, err
	}
	return OpenSQLite(ctx, path, cipher, opts...)
}

// IsPostgres reports whether a database URL names PostgreSQL.
func IsPostgres(dbURL string) bool {
	return strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://")
}

// SQLitePath returns the file a SQLite database URL names.
func SQLitePath(dbURL string) (string, error) {
	switch {
	case strings.HasPrefix(dbURL, "sqlite://"):
		return strings.TrimPrefix(dbURL, "sqlite://"), nil
	case strings.HasPrefix(dbURL, "sqlite:"):
		return strings.TrimPrefix(dbURL, "sqlite:"), nil
	case strings.Contains(dbURL, "://"):
		return "", fmt.Errorf("database URL scheme %q is not one of postgres, postgresql or sqlite", strings.SplitN(dbURL, "://", 2)[0])
	}
	return dbURL, nil
}

// newStore wraps opened pools; the caller gives it its generations.
func newStore(write, read, keys *sqlx.DB, cipher Cipher, opts []Option) *Store {
	s := &Store{write: write, read: read, keys: keys, stmts: &stmtCache{db: read}, writeStmts: &stmtCache{db: write}, cache: newReadCache(), cipher: cipher, now: time.Now, retries: &retryCounters{}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	provider, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.generations.close()
	s.stmts.close()
	s.writeStmts.close()
	return errors.Join(s.read.Close(), s.write.Close(), s.keys.Close())
}

// Pools returns the read and write connection pools, for their metrics.
func (s *Store) Pools() (read, write *sql.DB) { return s.read.DB, s.write.DB }

// TokenStatusCounts returns how many tokens are in each status.
func (s *Store) TokenStatusCounts(ctx context.Context) (map[TokenStatus]int, error) {
	var rows []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, s.reader(), &rows, `SELECT status, COUNT(*) AS n FROM oauth_tokens GROUP BY status`); err != nil {
		return nil, fmt.Errorf("counting tokens by status: %w", err)
	}
	counts := map[TokenStatus]int{TokenConnected: 0, TokenRefreshFailed: 0, TokenNeedsReauth: 0}
	for _, r := range rows {
		counts[TokenStatus(r.Status)] = r.N
	}
	return counts, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.read.PingContext(ctx) }

// inTx runs fn in a write transaction, committing if it returns nil, and
// advances the generation so that every replica's caches see the change (its
// Definitions counter is advanced by the database, when fn changes one).
func (s *Store) inTx(ctx context.Context, fn func(tx writeTx) error) error {
	return s.runTx(ctx, counterAll, fn)
}

// inUntrackedTx is inTx for writes that change nothing a read serves (audit
// events, refresh leases), so caches stay valid.
func (s *Store) inUntrackedTx(ctx context.Context, fn func(tx writeTx) error) error {
	return s.runTx(ctx, "", fn)
}

// inRenewalTx is inTx for a refresh that rewrites one token in place and
// bumps its version: it advances Generation.Tokens instead of All, so that
// cached reads of every other token stay valid (see Resolve).
func (s *Store) inRenewalTx(ctx context.Context, fn func(tx writeTx) error) error {
	return s.runTx(ctx, counterTokens, fn)
}

// writeTx is what a write transaction's statements run through: prepared
// statements of the write pool, bound to the transaction.
type writeTx interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// runTx runs fn in one write transaction, and runs it again, in a new
// transaction, when PostgreSQL rolled it back for colliding with a
// concurrent one (a deadlock, a serialization failure): a bounded number of
// times (retryConflicts). So fn must be safe to run more than once: it may
// change nothing outside tx, and must set every result it returns on every
// run, not leave one set by a run that was rolled back.
func (s *Store) runTx(ctx context.Context, advances generationCounter, fn func(tx writeTx) error) error {
	return retryConflicts(ctx, s.retries, func() error { return s.runTxOnce(ctx, advances, fn) })
}

func (s *Store) runTxOnce(ctx context.Context, advances generationCounter, fn func(tx writeTx) error) error {
	sqlTx, err := s.write.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := preparedQueryer{cache: s.writeStmts, tx: sqlTx}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	committed := func() {}
	if advances != "" {
		if committed, err = s.generations.advance(ctx, tx, advances); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed()
	return nil
}

// generationCounter is the column of the generation row a write transaction
// advances; empty for none.
type generationCounter string

const (
	counterAll    generationCounter = "value"
	counterTokens generationCounter = "tokens"
)

// advanceGeneration moves counter forward inside a write transaction.
func advanceGeneration(ctx context.Context, tx writeTx, counter generationCounter) error {
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET `+string(counter)+` = `+string(counter)+` + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("advancing the generation: %w", err)
	}
	return nil
}

// inReadTx runs fn in a read-only transaction, so that everything it reads comes
// from one snapshot, through prepared statements.
//
// A ciphertext that does not open makes it run fn once more, in a new snapshot:
// a re-encryption may have committed, and the old key been retired, after this
// snapshot began (then the new one holds the re-encrypted value). fn must set
// all it returns on each run.
func (s *Store) inReadTx(ctx context.Context, fn func(q sqlx.QueryerContext) error) error {
	err := s.readSnapshot(ctx, fn)
	if errors.Is(err, keyring.ErrOpen) {
		err = s.readSnapshot(ctx, fn)
	}
	return err
}

func (s *Store) readSnapshot(ctx context.Context, fn func(q sqlx.QueryerContext) error) error {
	tx, err := s.read.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	return fn(preparedQueryer{cache: s.stmts, tx: tx})
}

// reader runs single reads outside a transaction through prepared statements.
func (s *Store) reader() sqlx.QueryerContext { return preparedQueryer{cache: s.stmts} }

func (s *Store) timestamp() time.Time { return s.now().UTC() }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// seal encrypts a secret column value bound to its table, column and row.
func (s *Store) seal(table, column, rowID string, plaintext string) ([]byte, error) {
	ct, err := s.cipher.Seal([]byte(plaintext), aad(table, column, rowID))
	if err != nil {
		return nil, fmt.Errorf("sealing %s.%s: %w", table, column, err)
	}
	return ct, nil
}

// open decrypts what seal made. The error names the row, never the content.
func (s *Store) open(table, column, rowID string, ciphertext []byte) (string, error) {
	pt, err := s.cipher.Open(ciphertext, aad(table, column, rowID))
	if err != nil {
		return "", fmt.Errorf("opening %s.%s of row %s: %w", table, column, rowID, err)
	}
	return string(pt), nil
}

func aad(table, column, rowID string) []byte {
	return []byte(table + "\x00" + column + "\x00" + rowID)
}

// sealOptional seals a value that may be absent: empty stays NULL.
func (s *Store) sealOptional(table, column, rowID, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	return s.seal(table, column, rowID, plaintext)
}

func (s *Store) openOptional(table, column, rowID string, ciphertext []byte) (string, error) {
	if ciphertext == nil {
		return "", nil
	}
	return s.open(table, column, rowID, ciphertext)
}

// translate turns driver errors the caller can act on into the store's errors.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if pgErr, ok := translatePostgres(err, what); ok {
		return pgErr
	}
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%s: %w", what, ErrAlreadyExists)
		case sqlite3.ErrConstraintForeignKey:
			return fmt.Errorf("%s: %w", what, ErrInUse)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// storable makes text from outside that a record must keep (an audit event's
// fields, a provider's error or token type) fit to store anywhere: PostgreSQL refuses a NUL
// byte or invalid UTF-8 in text, and one refused audit event would hold up the
// whole log. Control characters go too, so that nothing read back can steer an
// operator's terminal, and so do the line separators and the invisible marks
// that reorder or hide text (textsafe.Unsafe), so that none disguises a line.
func storable(s string) string { return textsafe.Clean(s) }

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// Page is where a listing starts and how long it may be.
type Page struct {
	// After is the sort key of the last row of the previous page; empty for the
	// first page.
	After string
	Limit int
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: %T does not encode as JSON: %v", v, err))
	}
	return string(b)
}

// retryCreateRace runs an upsert that looks a row up and inserts it when it is
// missing once more when it lost a race to insert the same row: on PostgreSQL
// two such transactions can both see nothing, and the second then finds the
// row. (The row's ID is chosen before the insert because it seals the row's
// secrets, so ON CONFLICT on the natural key cannot do it.)
func retryCreateRace[T any](upsert func() (T, error)) (T, error) {
	out, err := upsert()
	if errors.Is(err, ErrAlreadyExists) {
		return upsert()
	}
	return out, err
}
