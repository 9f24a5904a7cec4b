package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/bifrost/integrations/config"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/store"
)

func openStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := testdb.Database(t)
	return openAt(t, path, testutil.Keyring(t)), path
}

// openAt opens another store (a replica) on the database at path.
func openAt(t testing.TB, path string, cipher store.Cipher) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seededReplicas opens two stores (replicas) on one new database, seeded
// through a, and returns them with the database's path.
func seededReplicas(t *testing.T) (a, b *store.Store, path string) {
	t.Helper()
	path = testdb.Database(t)
	ring := testutil.Keyring(t)
	a, b = openAt(t, path, ring), openAt(t, path, ring)
	seed(t, a)
	return a, b, path
}

// seed creates a connection, an integration with a secret default, a token and
// a mapping with a secret override, and returns the secrets it stored.
func seed(t *testing.T, s *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	secrets := []string{"client-secret-7f3a", "access-token-91bc", "refresh-token-2d4e", "default-api-secret-55aa", "org-api-secret-66bb"}
	if _, err := s.CreateConnection(ctx, store.Connection{Name: "graph", Flow: store.FlowAuthorizationCode, ClientID: "cid", ClientSecret: secrets[0], TokenURL: "https://login.example/token"}); err != nil {
		t.Fatal(err)
	}
	schema := config.Schema{{Key: "tenant", Type: config.String}, {Key: "api_secret", Type: config.Secret}}
	if _, err := s.CreateIntegration(ctx, store.Integration{Name: "Graph", ConnectionName: "graph", Schema: schema, Defaults: map[string]any{"tenant": "common", "api_secret": secrets[3]}}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := s.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-1", AccessToken: secrets[1], RefreshToken: secrets[2], ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-1", ConfigPatch: map[string]any{"api_secret": secrets[4]}}); err != nil {
		t.Fatal(err)
	}
	return secrets
}

func TestDatabaseFileHoldsNoSecretInPlainText(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	secrets := seed(t, s)
	r, err := s.Resolve(context.Background(), "Graph", "org-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Token.AccessToken != secrets[1] || r.Mapping.Config["api_secret"] != secrets[4] || r.Connection.ClientSecret != secrets[0] {
		t.Fatalf("secrets did not round-trip: %+v", r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dump := rawDump(t, path)
	if !bytes.Contains(dump, []byte("common")) {
		t.Fatal("dump does not even hold the plain default; the test reads the wrong file")
	}
	for _, secret := range secrets {
		if bytes.Contains(dump, []byte(secret)) {
			t.Errorf("database file contains secret %q in plain text", secret)
		}
	}
}

func TestCiphertextCopiedToAnotherRowDoesNotOpen(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	seed(t, s)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if _, err := s.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-2", AccessToken: "other-access", ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	// Copy org-1's access token ciphertext into org-2's row.
	if _, err := raw.Exec(`UPDATE oauth_tokens SET access_token = (SELECT access_token FROM oauth_tokens WHERE org_id = 'org-1') WHERE org_id = 'org-2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "Graph", "org-2"); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("Resolve with a swapped row: err = %v, want ErrOpen", err)
	}
	// Copy the refresh token ciphertext into the access token column of its own row.
	if _, err := raw.Exec(`UPDATE oauth_tokens SET access_token = refresh_token WHERE org_id = 'org-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "Graph", "org-1"); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("Resolve with a swapped column: err = %v, want ErrOpen", err)
	}
}

func TestFailedUpsertLeavesNoHalfWrittenMapping(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	schema := config.Schema{{Key: "site", Type: config.String, Required: true}, {Key: "note", Type: config.String}}
	if _, err := s.CreateIntegration(ctx, store.Integration{Name: "Halo", Schema: schema}); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpsertMapping(ctx, store.MappingUpsert{Integration: "Halo", OrgID: "org-1", EntityID: "e1", ConfigPatch: map[string]any{"note": "x"}})
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key != "site" {
		t.Fatalf("UpsertMapping without a required key: err = %v, want FieldError for site", err)
	}
	if _, err := s.GetMapping(ctx, "Halo", "org-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMapping after a failed upsert: err = %v, want ErrNotFound", err)
	}
}

// The write connection lets the WAL grow to 10,000 pages between checkpoints
// (see walPagesPerCheckpoint); the pragma is per connection, so it comes with
// every connection the pool opens, not from the DSN.
func TestSQLiteWritesCheckpointEveryTenThousandPages(t *testing.T) {
	if testdb.IsPostgres() {
		t.Skip("a SQLite setting")
	}
	t.Parallel()
	s, _ := openStore(t)
	_, write := s.Pools()
	var pages int
	if err := write.QueryRow("PRAGMA wal_autocheckpoint").Scan(&pages); err != nil || pages != 10000 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 10000", pages, err)
	}
}

func TestMigrationsApplyOnceAcrossReopen(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := store.Open(context.Background(), path, testutil.Keyring(t))
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer reopened.Close()
	if tokens, err := reopened.ListTokens(context.Background(), "graph", store.Page{Limit: 10}); err != nil || len(tokens) != 1 {
		t.Fatalf("data lost across reopen: %v, %v", tokens, err)
	}
	// A ring without the sealing key cannot open the secrets: wrong key.
	if _, err := reopened.Resolve(context.Background(), "Graph", "org-1"); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("Resolve under the wrong key ring: err = %v, want ErrOpen", err)
	}
}

// Events are pruned with their batch, once its newest is older than the
// retention: a batch that spans the cut is kept whole. More batches than one
// round of pruning takes are all pruned.
func TestPruneDeletesTheBatchesWhoseEveryEventIsOlderThanRetention(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	now := time.Now()
	// Batch j holds the events of minutes 10j to 10j+9 ago.
	for j := range 250 {
		var events []store.AuditEvent
		for i := range 10 {
			events = append(events, store.AuditEvent{ID: store.NewAuditID(), Time: now.Add(-time.Duration(10*j+i) * time.Minute), Method: "m", OrgID: fmt.Sprint("org-", j%7), Outcome: "OK"})
		}
		if err := s.InsertAuditEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAuditEvents(ctx, now.Add(-955*time.Minute))
	if err != nil || n != 1540 {
		t.Fatalf("pruned %d, %v; want 1540 (batches 96 to 249; batch 95 spans the cut)", n, err)
	}
	left, err := s.ListAuditEvents(ctx, store.AuditFilter{}, 5000)
	if err != nil || len(left) != 960 {
		t.Fatalf("left %d, %v; want 960", len(left), err)
	}
	oldest := slices.MinFunc(left, func(a, b store.AuditEvent) int { return a.Time.Compare(b.Time) }).Time
	if want := now.Add(-959 * time.Minute); !oldest.Equal(want) {
		t.Fatalf("oldest event left: %v, want the straddling batch's, %v", oldest, want)
	}
	if byOrg, err := s.ListAuditEvents(ctx, store.AuditFilter{OrgID: "org-0"}, 5000); err != nil || len(byOrg) != 140 {
		t.Fatalf("events of org-0 left: %d, %v; want 140 (batches 0, 7, ... 91)", len(byOrg), err)
	}
}

func TestSchemaChangeRefusedWhileValuesOfTheKeyAreStored(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	seed(t, s)
	ctx := context.Background()
	changed := config.Schema{{Key: "tenant", Type: config.Int}, {Key: "api_secret", Type: config.Secret}}
	if _, err := s.UpdateIntegration(ctx, "Graph", store.IntegrationUpdate{Schema: &changed}); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("type change with stored values: err = %v, want ErrInUse", err)
	}
	added := config.Schema{{Key: "tenant", Type: config.String}, {Key: "api_secret", Type: config.Secret}, {Key: "region", Type: config.String}}
	if _, err := s.UpdateIntegration(ctx, "Graph", store.IntegrationUpdate{Schema: &added}); err != nil {
		t.Fatalf("adding a key: %v", err)
	}
}

// A write through one store (replica) invalidates what another on the same
// database cached: reads never serve data older than the last write.
func TestWriteOnOneReplicaInvalidatesAnothersCache(t *testing.T) {
	t.Parallel()
	a, b, _ := seededReplicas(t)
	ctx := context.Background()
	first, err := b.Resolve(ctx, "Graph", "org-1")
	if err != nil || first.Mapping.EntityID != "tenant-1" {
		t.Fatalf("first read: %+v, %v", first.Mapping, err)
	}
	if _, err := a.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-2"}); err != nil {
		t.Fatal(err)
	}
	second, err := b.Resolve(ctx, "Graph", "org-1")
	if err != nil || second.Mapping.EntityID != "tenant-2" {
		t.Fatalf("read after another replica's write: %+v, %v", second.Mapping, err)
	}
	if m, err := b.GetMapping(ctx, "Graph", "org-1"); err != nil || m.EntityID != "tenant-2" {
		t.Fatalf("mapping after another replica's write: %+v, %v", m, err)
	}
	if _, err := a.DeleteMapping(ctx, "Graph", "org-1"); err != nil {
		t.Fatal(err)
	}
	if m, err := b.GetMapping(ctx, "Graph", "org-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("mapping after another replica deleted it: %+v, %v; want ErrNotFound", m, err)
	}
	k, err := a.CreateAPIKey(ctx, store.APIKey{ID: "k1", Role: store.RoleAdmin}, []byte("hash-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.APIKeyByHash(ctx, []byte("hash-1")); err != nil || got.RevokedAt != nil {
		t.Fatalf("key before revocation: %+v, %v", got, err)
	}
	if _, err := a.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := b.APIKeyByHash(ctx, []byte("hash-1")); err != nil || got.RevokedAt == nil {
		t.Fatalf("revocation on one replica not seen by the other: %+v, %v", got, err)
	}
}

// A refresh that renews one organization's token on one replica leaves what
// another replica resolved for other organizations cached (the same result,
// not read again), while the renewed organization's next read has the new
// token; any other tracked write still makes every cached result stale.
func TestRenewalOfOneTokenLeavesOtherOrganizationsResolvedReadsCachedButNotItsOwn(t *testing.T) {
	t.Parallel()
	a, b, _ := seededReplicas(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	put, err := a.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-2", AccessToken: "access-org-2", RefreshToken: "refresh-org-2", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.Resolve(ctx, "Graph", "org-1")
	if err != nil {
		t.Fatal(err)
	}
	if renewedBefore, err := b.Resolve(ctx, "Graph", "org-2"); err != nil || renewedBefore.Token.AccessToken != "access-org-2" {
		t.Fatalf("org-2 before the renewal: %+v, %v", renewedBefore.Token, err)
	}
	if ok, err := a.AcquireLease(ctx, put.ID, "replica-a", time.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("lease: %v, %v", ok, err)
	}
	if _, err := a.StoreRefreshed(ctx, put.ID, "replica-a", put.Version, store.Refreshed{AccessToken: "access-org-2-renewed", ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if again, err := b.Resolve(ctx, "Graph", "org-1"); err != nil || again != first {
		t.Fatalf("org-1 after org-2's renewal: read again (%p, was %p), %v; want the cached result", again, first, err)
	}
	if renewed, err := b.Resolve(ctx, "Graph", "org-2"); err != nil || renewed.Token.AccessToken != "access-org-2-renewed" || renewed.Token.Version != put.Version+1 {
		t.Fatalf("org-2 after its renewal: %+v, %v; want the renewed token", renewed.Token, err)
	}
	if _, err := a.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-3", EntityID: "tenant-3"}); err != nil {
		t.Fatal(err)
	}
	if afterWrite, err := b.Resolve(ctx, "Graph", "org-1"); err != nil || afterWrite == first {
		t.Fatalf("org-1 after a mapping write: %p, %v; want it read again", afterWrite, err)
	}
}

// What is read from definitions alone (an API key, the integration a mapping
// write checks its config against) stays cached on a replica through writes of
// mappings and tokens on another, and is read again after a write of any
// definition. The database is changed behind the stores' backs, with the
// generation set back, to tell a cached answer from a fresh one.
func TestCachedDefinitionsOutliveWritesOfMappingsAndTokensButNotOfDefinitions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		behindTheBack string
		// fresh reads through b and says whether the answer shows the change.
		fresh func(ctx context.Context, b *store.Store) (bool, error)
	}{
		{
			name:          "API key",
			behindTheBack: `UPDATE api_keys SET revoked_at = created_at WHERE id = 'k1'`,
			fresh: func(ctx context.Context, b *store.Store) (bool, error) {
				k, err := b.APIKeyByHash(ctx, []byte("hash-1"))
				return k.RevokedAt != nil, err
			},
		},
		{
			name:          "integration of a mapping write",
			behindTheBack: `UPDATE config_fields SET type = 'int' WHERE key = 'tenant'`,
			fresh: func(ctx context.Context, b *store.Store) (bool, error) {
				_, err := b.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-2", ConfigPatch: map[string]any{"tenant": "t"}})
				var fe *config.FieldError
				if errors.As(err, &fe) && fe.Key == "tenant" {
					return true, nil
				}
				return false, err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, path := seededReplicas(t)
			ctx := context.Background()
			if _, err := a.CreateAPIKey(ctx, store.APIKey{ID: "k1", Role: store.RoleAdmin}, []byte("hash-1")); err != nil {
				t.Fatal(err)
			}
			if fresh, err := tc.fresh(ctx, b); err != nil || fresh {
				t.Fatalf("before the change: %v, %v", fresh, err)
			}
			changeBehindTheBack(t, rawDB(t, path), tc.behindTheBack)
			exp := time.Now().Add(time.Hour)
			for _, write := range []struct {
				name string
				do   func() error
			}{
				{"UpsertMapping", func() error {
					_, err := a.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-9"})
					return err
				}},
				{"PutToken", func() error {
					_, err := a.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-3", AccessToken: "a", RefreshToken: "r", ExpiresAt: &exp})
					return err
				}},
				{"DeleteMapping", func() error {
					_, err := a.DeleteMapping(ctx, "Graph", "org-1")
					return err
				}},
			} {
				if err := write.do(); err != nil {
					t.Fatalf("%s: %v", write.name, err)
				}
				if fresh, err := tc.fresh(ctx, b); err != nil || fresh {
					t.Fatalf("after %s on the other replica: %v, %v; want the cached answer", write.name, fresh, err)
				}
			}
			if _, err := a.CreateConnection(ctx, store.Connection{Name: "other", Flow: store.FlowAuthorizationCode, ClientID: "c", ClientSecret: "s", TokenURL: "https://login.example/token"}); err != nil {
				t.Fatal(err)
			}
			if fresh, err := tc.fresh(ctx, b); err != nil || !fresh {
				t.Fatalf("after a connection was created on the other replica: %v, %v; want the changed row", fresh, err)
			}
		})
	}
}

// changeBehindTheBack runs stmt and then sets the generation back to what it
// was (a second statement: PostgreSQL's triggers move it at the commit), so
// that only a cached answer can tell the change was made.
func changeBehindTheBack(t *testing.T, raw *sql.DB, stmt string) {
	t.Helper()
	definitions := rawDefinitions(t, raw)
	if _, err := raw.Exec(stmt); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE generation SET definitions = $1 WHERE id = 1`, definitions); err != nil {
		t.Fatal(err)
	}
}

// rawDefinitions is the Definitions counter as the database holds it.
func rawDefinitions(t *testing.T, raw *sql.DB) int64 {
	t.Helper()
	var n int64
	if err := raw.QueryRow(`SELECT definitions FROM generation WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Every change of a definition moves the Definitions counter whoever makes it
// (here raw SQL, as an operator's or a replica's of the previous version would),
// and a change of a mapping or a token does not.
func TestEveryChangeOfADefinitionMovesTheDefinitionsCounter(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	seed(t, s)
	ctx := context.Background()
	if _, err := s.CreateAPIKey(ctx, store.APIKey{ID: "k1", Role: store.RoleAdmin}, []byte("hash-1")); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	for _, tc := range []struct {
		stmt  string
		moves bool
	}{
		{`UPDATE api_keys SET name = 'renamed'`, true},
		{`UPDATE oauth_connections SET client_id = 'other'`, true},
		{`UPDATE integrations SET description = 'changed'`, true},
		{`UPDATE config_fields SET description = 'changed'`, true},
		{`UPDATE integration_config SET value = value`, true},
		{`DELETE FROM api_keys`, true},
		{`UPDATE mappings SET entity_name = 'changed'`, false},
		{`UPDATE oauth_tokens SET status_message = 'changed'`, false},
	} {
		before := rawDefinitions(t, raw)
		if _, err := raw.Exec(tc.stmt); err != nil {
			t.Fatalf("%s: %v", tc.stmt, err)
		}
		if moved := rawDefinitions(t, raw) != before; moved != tc.moves {
			t.Errorf("%s: counter moved %v, want %v", tc.stmt, moved, tc.moves)
		}
	}
}

// Stores of one process on one SQLite file (here by two paths) share the
// in-memory generation: a write through any invalidates the others' caches,
// closing one (even twice) leaves the rest sharing, and a store opened after
// all closed goes on from the stored generation.
func TestStoresOfOneSQLiteFileShareTheirGeneration(t *testing.T) {
	t.Parallel()
	if testdb.IsPostgres() {
		t.Skip("PostgreSQL replicas read the generation from the database")
	}
	path := testdb.Database(t)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	ring := testutil.Keyring(t)
	ctx := context.Background()
	a, err := store.Open(ctx, path, ring)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, a)
	b, err := store.Open(ctx, link, ring)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Resolve(ctx, "Graph", "org-1"); err != nil || r.Mapping.EntityID != "tenant-1" {
		t.Fatalf("first read: %+v, %v", r.Mapping, err)
	}
	if _, err := a.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-2"}); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Resolve(ctx, "Graph", "org-1"); err != nil || r.Mapping.EntityID != "tenant-2" {
		t.Fatalf("read through the other path after a write: %+v, %v", r.Mapping, err)
	}
	a.Close()
	a.Close() // a second Close must not give up b's share of the counter
	c, err := store.Open(ctx, path, ring)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-1", EntityID: "tenant-3"}); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Resolve(ctx, "Graph", "org-1"); err != nil || r.Mapping.EntityID != "tenant-3" {
		t.Fatalf("read after a write through a store opened after another closed twice: %+v, %v", r.Mapping, err)
	}
	written, err := c.Generation(ctx)
	if err != nil || written.All == 0 || written.Definitions == 0 {
		t.Fatalf("generation after the writes: %+v, %v", written, err)
	}
	b.Close()
	c.Close()
	reopened := openAt(t, path, ring)
	if g, err := reopened.Generation(ctx); err != nil || g != written {
		t.Fatalf("generation after reopening: %+v, %v; want the stored %+v", g, err, written)
	}
}

// Concurrent first puts of one token and first upserts of one mapping (which
// race to insert the same row on PostgreSQL) all succeed, on one row each.
func TestConcurrentCreatesOfTheSameRowAllSucceed(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	seed(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() {
			<-start
			_, err := s.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-race", AccessToken: fmt.Sprint("a", i)})
			errs <- err
		})
		wg.Go(func() {
			<-start
			_, err := s.UpsertMapping(ctx, store.MappingUpsert{Integration: "Graph", OrgID: "org-race", EntityID: fmt.Sprint("e", i)})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := s.ListTokens(ctx, "graph", store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tok := range tokens {
		if tok.OrgID == "org-race" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d tokens for one (connection, org)", n)
	}
}

// On PostgreSQL two first puts of one token can both see no row; the second's
// insert then waits for the first and fails on the unique key. This test makes
// that happen every time (a competing insert is held uncommitted until PutToken
// waits on it) and requires PutToken to retry and update the row the other
// transaction created.
func TestPutTokenRetriesAnInsertRaceItLost(t *testing.T) {
	t.Parallel()
	if !testdb.IsPostgres() {
		t.Skip("SQLite has one writer: two inserts of one row cannot interleave")
	}
	s, path := openStore(t)
	seed(t, s)
	raw := rawDB(t, path)
	competitor, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer competitor.Rollback() //nolint:errcheck // committed below
	if _, err := competitor.Exec(`
INSERT INTO oauth_tokens (id, connection_id, org_id, entity_id, access_token, status, created_at, updated_at)
SELECT 'competitor', id, 'org-race', '', '\x00'::bytea, 'connected', now(), now() FROM oauth_connections WHERE name = 'graph'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var put store.Token
	go func() {
		var err error
		put, err = s.PutToken(context.Background(), store.Token{ConnectionName: "graph", OrgID: "org-race", AccessToken: "ours"})
		done <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("PutToken finished before the race: %v", err)
		default:
		}
		var waiting int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()
  AND query LIKE '%INSERT INTO oauth_tokens%' AND query NOT LIKE '%competitor%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			return errors.New("PutToken's insert does not wait for the competitor's row lock")
		}
		return nil
	})
	if err := competitor.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("PutToken after losing the insert race: %v", err)
	}
	if put.ID != "competitor" || put.AccessToken != "ours" {
		t.Fatalf("PutToken wrote %s/%q; want our token in the competitor's row", put.ID, put.AccessToken)
	}
}

func TestReplicasStartingTogetherOnAnEmptyDatabaseMintOneFirstKey(t *testing.T) {
	t.Parallel()
	path := testdb.Database(t)
	ring := testutil.Keyring(t)
	const replicas = 4
	stores := make([]*store.Store, replicas)
	for i := range stores {
		stores[i] = openAt(t, path, ring)
	}
	var created atomic.Int32
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			ok, err := s.CreateFirstAPIKey(context.Background(), store.APIKey{ID: fmt.Sprintf("first-%d", i), Role: store.RoleAdmin}, []byte(fmt.Sprintf("hash-%d", i)))
			if err != nil {
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	keys, err := stores[0].ListAPIKeys(context.Background(), store.Page{Limit: 10})
	if created.Load() != 1 || err != nil || len(keys) != 1 {
		t.Fatalf("%d replicas created a first key; keys stored: %v, %v", created.Load(), keys, err)
	}
	// Once the installation has had a key, it never mints another first one.
	if ok, err := stores[1].CreateFirstAPIKey(context.Background(), store.APIKey{ID: "late", Role: store.RoleAdmin}, []byte("hash-late")); ok || err != nil {
		t.Fatalf("a later start: created %v, %v", ok, err)
	}
}

func TestAuditBatchesOfAnySizeAreStoredWhole(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	total := 0
	for _, size := range []int{1, 3, 63, 64, 65, 127, 200} {
		events := make([]store.AuditEvent, size)
		for i := range events {
			events[i] = store.AuditEvent{ID: store.NewAuditID(), Time: time.Now(), Method: fmt.Sprint(size), Outcome: "OK"}
		}
		if err := s.InsertAuditEvents(ctx, events); err != nil {
			t.Fatalf("batch of %d: %v", size, err)
		}
		total += size
	}
	stored, err := s.ListAuditEvents(ctx, store.AuditFilter{}, 1000)
	if err != nil || len(stored) != total {
		t.Fatalf("stored %d of %d events, %v", len(stored), total, err)
	}
}

func TestIsUnavailableTellsTheDatabaseFromTheCaller(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"SQLite busy", fmt.Errorf("begin: %w", sqlite3.Error{Code: sqlite3.ErrBusy}), true},
		{"connection lost mid-query", fmt.Errorf("reading the generation: %w", io.ErrUnexpectedEOF), true},
		{"network error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"the caller's deadline", fmt.Errorf("resolve: %w", context.DeadlineExceeded), false},
		{"the caller gave up", fmt.Errorf("resolve: %w", context.Canceled), false},
		{"a constraint", fmt.Errorf("insert: %w", sqlite3.Error{Code: sqlite3.ErrConstraint}), false},
		{"not found", store.ErrNotFound, false},
	}
	for _, tc := range cases {
		if got := store.IsUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsUnavailable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// failingOpens opens nothing while fails is above zero, counting down, as a
// ring does after the key of a value read earlier was retired.
type failingOpens struct {
	store.Cipher
	fails atomic.Int32
}

func (c *failingOpens) Open(ciphertext, aad []byte) ([]byte, error) {
	if c.fails.Add(-1) >= 0 {
		return nil, keyring.ErrOpen
	}
	return c.Cipher.Open(ciphertext, aad)
}

// A value re-encrypted, and its old key retired, while a read held it from an
// older snapshot does not fail the read: it reads again, once, in a new
// snapshot. A value that does not open twice is an error.
func TestReadOfAValueThatDoesNotOpenIsRetriedOnceInANewSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cipher := &failingOpens{Cipher: testutil.Keyring(t)}
	s := openAt(t, testdb.Database(t), cipher)
	secrets := seed(t, s)
	cipher.fails.Store(1)
	r, err := s.Resolve(ctx, "Graph", "org-1")
	if err != nil || r.Config["api_secret"] != secrets[4] || r.Token.AccessToken != secrets[1] {
		t.Fatalf("resolve after one failed open: %+v, %v", r, err)
	}
	cipher.fails.Store(1)
	if m, err := s.ListMappings(ctx, "Graph", "", store.Page{Limit: 10}); err != nil || len(m) != 1 || m[0].Config["api_secret"] != secrets[4] {
		t.Fatalf("mappings after one failed open: %+v, %v", m, err)
	}
	cipher.fails.Store(100)
	if _, err := s.ListMappings(ctx, "Graph", "", store.Page{Limit: 10}); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("a value that never opens: err = %v, want ErrOpen", err)
	}
}
