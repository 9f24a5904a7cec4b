package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bifrost/integrations/datakeys"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/store"
)

// One stored value that does not open no longer stalls a key rotation: the
// re-encryption job skips it, logs it once by table, column and row (never
// its content), re-encrypts every other value, and the key status counts it;
// its key cannot be retired until the value is set again.
func TestReencryptionSkipsAndReportsAValueThatDoesNotOpen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		corrupt func(ciphertext []byte) []byte
		keyID   uint32 // the key the bad value counts under
	}{
		{"a flipped bit", func(ct []byte) []byte { ct[len(ct)-1] ^= 1; return ct }, 1},
		{"sealed for another row", nil, 1},
		{"truncated to no key at all", func(ct []byte) []byte { return ct[:3] }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := testdb.Database(t)
			ring := keyring.NewRotating()
			s := openAt(t, path, ring)
			logs := &testutil.SyncBuffer{}
			keys, err := datakeys.New(ctx, s, testutil.Keyring(t), ring, datakeys.Options{
				BatchSize: 2, RetireGrace: time.Nanosecond, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			secrets := seed(t, s)
			exp := time.Now().Add(time.Hour)
			for i := range 4 {
				tok, err := s.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: fmt.Sprintf("org-%d", i+2), AccessToken: fmt.Sprintf("access-%d", i), RefreshToken: fmt.Sprintf("refresh-%d", i), ExpiresAt: &exp})
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
			}
			raw := rawDB(t, path)
			var badRow string
			if err := raw.QueryRow(`SELECT id FROM oauth_tokens WHERE org_id = 'org-1'`).Scan(&badRow); err != nil {
				t.Fatal(err)
			}
			// Corrupted behind the store's back: changed in place, or replaced
			// by another row's ciphertext.
			var ct []byte
			if err := raw.QueryRow(`SELECT access_token FROM oauth_tokens WHERE org_id = 'org-2'`).Scan(&ct); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt != nil {
				if err := raw.QueryRow(`SELECT access_token FROM oauth_tokens WHERE id = $1`, badRow).Scan(&ct); err != nil {
					t.Fatal(err)
				}
				ct = tc.corrupt(ct)
			}
			if _, err := raw.Exec(`UPDATE oauth_tokens SET access_token = $1 WHERE id = $2`, ct, badRow); err != nil {
				t.Fatal(err)
			}
			if _, err := keys.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			before, err := keys.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stored := before.Keys[0].Ciphertexts + before.Keys[1].Ciphertexts
			if before.Keys[0].Ciphertexts < 10 {
				t.Fatalf("key 1 seals %d values before the rotation's re-encryption; the test seeds too little", before.Keys[0].Ciphertexts)
			}

			n, err := keys.ReencryptAll(ctx)
			if err != nil {
				t.Fatalf("ReencryptAll: %v (after re-encrypting %d)", err, n)
			}
			sealedByKey1 := int64(0)
			if tc.keyID == 1 {
				sealedByKey1 = 1
			}
			if want := int(stored - sealedByKey1 - before.Keys[1].Ciphertexts); n != want {
				t.Fatalf("re-encrypted %d values, want every other one: %d", n, want)
			}
			bad := store.UndecryptableValue{Table: "oauth_tokens", Column: "access_token", RowID: badRow, KeyID: tc.keyID}
			st, err := keys.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Undecryptable) != 1 || st.Undecryptable[0] != bad {
				t.Fatalf("undecryptable values = %v, want [%v]", st.Undecryptable, bad)
			}
			if st.Keys[0].Ciphertexts != sealedByKey1 || st.Keys[0].Undecryptable != sealedByKey1 || st.Pending != sealedByKey1 {
				t.Fatalf("key 1 after the pass: %+v, pending %d; want it to seal only the bad value", st.Keys[0], st.Pending)
			}
			if got := promtest.ToFloat64(keys.Collector()); got != 1 {
				t.Fatalf("bifrost_undecryptable_values = %v, want 1", got)
			}
			if r, err := s.Resolve(ctx, "Graph", "org-2"); err != nil || r.Token.AccessToken != "access-0" || r.Connection.ClientSecret != secrets[0] {
				t.Fatalf("a value re-encrypted in the same pass: %+v, %v", r, err)
			}

			// Reported once, by place; the next pass adds no line.
			if _, err := keys.ReencryptAll(ctx); err != nil {
				t.Fatal(err)
			}
			logged := logs.String()
			if got := strings.Count(logged, `"row_id":"`+badRow+`"`); got != 1 || !strings.Contains(logged, `"table":"oauth_tokens","column":"access_token"`) {
				t.Fatalf("the bad value was logged %d times, want once by table, column and row:\n%s", got, logged)
			}
			for _, secret := range secrets {
				if strings.Contains(logged, secret) {
					t.Fatalf("the log holds secret %q", secret)
				}
			}

			err = keys.Retire(ctx, 1)
			if tc.keyID == 1 {
				if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "do not open") || !strings.Contains(err.Error(), badRow) {
					t.Fatalf("retiring the key of a value that does not open: %v; want ErrInUse naming the value", err)
				}
				// Set again, the value is sealed under the current key and the
				// old key can go.
				if _, err := s.PutToken(ctx, store.Token{ConnectionName: "graph", OrgID: "org-1", AccessToken: "set-again", ExpiresAt: &exp}); err != nil {
					t.Fatal(err)
				}
				if _, err := keys.ReencryptAll(ctx); err != nil {
					t.Fatal(err)
				}
				if err := keys.Retire(ctx, 1); err != nil {
					t.Fatalf("retiring key 1 once the bad value was set again: %v", err)
				}
			} else if err != nil {
				t.Fatalf("retiring key 1, which seals nothing: %v", err)
			}
		})
	}
}
