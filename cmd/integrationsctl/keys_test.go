package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
)

// A secret that does not open (here: another row's ciphertext copied over it)
// no longer stalls a rotation: the other values are re-encrypted, `keys
// encryption` says how many could not be and where they are, and `keys retire`
// refuses the old key, saying why, until the value is set again.
func TestKeysEncryptionReportsValuesThatDoNotOpenAndRetireRefusesTheirKey(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	ctx := context.Background()
	mustCtl(t, env, "client-secret\n", "connections", "create", "graph", "--client-id", "cid", "--client-secret-file", "-", "--token-url", "https://login.example/token", "--authorization-url", "https://login.example/authorize")
	for _, org := range []string{"org-1", "org-2"} {
		mustCtl(t, env, "access-"+org+"\n", "tokens", "put", "graph", "--org", org, "--access-token-file", "-", "--expires-in", "1h")
	}
	driver := "sqlite3"
	if testdb.IsPostgres() {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, env.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var badRow string
	if err := raw.QueryRow(`SELECT id FROM oauth_tokens WHERE org_id = 'org-1'`).Scan(&badRow); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE oauth_tokens SET access_token = (SELECT access_token FROM oauth_tokens WHERE org_id = 'org-2') WHERE org_id = 'org-1'`); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, env, "", "keys", "rotate")
	if _, err := env.Keys.ReencryptAll(ctx); err != nil {
		t.Fatalf("re-encryption stalled on the value that does not open: %v", err)
	}

	out := mustCtl(t, env, "", "keys", "encryption")
	for _, want := range []string{"UNDECRYPTABLE", "1 values wait for re-encryption", "1 values do not open", "oauth_tokens.access_token of row " + badRow + " (key 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys encryption lacks %q:\n%s", want, out)
		}
	}
	var encryption struct {
		Keys []struct {
			ID            uint32 `json:"id"`
			Ciphertexts   int64  `json:"ciphertexts"`
			Undecryptable int64  `json:"undecryptable"`
		} `json:"keys"`
		Undecryptable int64 `json:"undecryptable"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "keys", "encryption", "-o", "json")), &encryption); err != nil {
		t.Fatal(err)
	}
	if len(encryption.Keys) != 2 || encryption.Keys[0].Ciphertexts != 1 || encryption.Keys[0].Undecryptable != 1 || encryption.Keys[1].Ciphertexts != 2 || encryption.Undecryptable != 1 {
		t.Errorf("keys encryption -o json: %+v; want key 1 to seal only the bad value, key 2 the other two", encryption)
	}

	if _, err := ctl(t, env, "", "keys", "retire", "1"); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "do not open") || !strings.Contains(err.Error(), badRow) {
		t.Fatalf("retiring the key of a value that does not open: %v", err)
	}
	mustCtl(t, env, "access-again\n", "tokens", "put", "graph", "--org", "org-1", "--access-token-file", "-", "--expires-in", "1h")
	mustCtl(t, env, "", "keys", "retire", "1")
	if out := mustCtl(t, env, "", "keys", "encryption"); strings.Contains(out, "do not open") {
		t.Errorf("after setting the value again:\n%s", out)
	}
}
