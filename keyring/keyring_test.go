package keyring_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bifrost/integrations/keyring"
)

func mustKey(t *testing.T, id uint32) keyring.Key {
	t.Helper()
	k, err := keyring.NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t *testing.T, current uint32, keys ...keyring.Key) *keyring.Keyring {
	t.Helper()
	r, err := keyring.New(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealOpenRoundTripsWithSameAssociatedData(t *testing.T) {
	t.Parallel()
	r := mustRing(t, 1, mustKey(t, 1))
	ct, err := r.Seal([]byte("refresh-token-value"), []byte("oauth_tokens/refresh_token/abc"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("refresh-token-value")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := r.Open(ct, []byte("oauth_tokens/refresh_token/abc"))
	if err != nil || string(got) != "refresh-token-value" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	ring := mustRing(t, 1, k1)
	aad := []byte("oauth_tokens/access_token/row-1")
	ct, err := ring.Seal([]byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	otherMaterialSameID := mustRing(t, 1, keyring.Key{ID: 1, Secret: k2.Secret})
	cases := []struct {
		name string
		ring *keyring.Keyring
		ct   []byte
		aad  []byte
	}{
		{"row swap: another row's associated data", ring, ct, []byte("oauth_tokens/access_token/row-2")},
		{"column swap: another column's associated data", ring, ct, []byte("oauth_tokens/refresh_token/row-1")},
		{"tampered body", ring, flip(len(ct) - 1), aad},
		{"tampered nonce", ring, flip(6), aad},
		{"key ID rewritten", ring, flip(4), aad},
		{"unknown format version", ring, flip(0), aad},
		{"truncated", ring, ct[:10], aad},
		{"empty", ring, nil, aad},
		{"wrong key material", otherMaterialSameID, ct, aad},
		{"key not in ring", mustRing(t, 2, k2), ct, aad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.ring.Open(tc.ct, tc.aad); !errors.Is(err, keyring.ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}

func TestOldKeyStillOpensAfterNewKeyBecomesCurrent(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	old := mustRing(t, 1, k1)
	ct, err := old.Seal([]byte("v1 secret"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustRing(t, 2, k1, k2)
	if got, err := rotated.Open(ct, []byte("a")); err != nil || string(got) != "v1 secret" {
		t.Fatalf("Open old ciphertext = %q, %v", got, err)
	}
	ct2, err := rotated.Seal([]byte("v2 secret"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := keyring.KeyID(ct2); !ok || id != 2 {
		t.Fatalf("KeyID of new ciphertext = %d, %v; want 2", id, ok)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	t.Parallel()
	k := mustKey(t, 1)
	cases := []struct {
		name    string
		current uint32
		keys    []keyring.Key
	}{
		{"short key", 1, []keyring.Key{{ID: 1, Secret: []byte("short")}}},
		{"duplicate ID", 1, []keyring.Key{k, k}},
		{"current missing", 2, []keyring.Key{k}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := keyring.New(tc.current, tc.keys); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestFileIsCreatedOwnerOnlyAndLoadsBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyring.json")
	created, err := keyring.CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", info.Mode().Perm())
	}
	ct, err := created.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := keyring.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := loaded.Open(ct, nil); err != nil || string(got) != "x" {
		t.Fatalf("loaded ring Open = %q, %v", got, err)
	}
	if _, err := keyring.CreateFile(path); err == nil {
		t.Fatal("CreateFile overwrote an existing key ring")
	}
}

func TestLoadFileRefusesMissingAndWorldReadableFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := keyring.LoadFile(filepath.Join(dir, "none.json")); !errors.Is(err, keyring.ErrNotExist) {
		t.Fatalf("missing file err = %v, want ErrNotExist", err)
	}
	path := filepath.Join(dir, "keyring.json")
	if _, err := keyring.CreateFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.LoadFile(path); err == nil {
		t.Fatal("LoadFile accepted a world-readable key ring")
	}
}

// Adding a key to a file makes it current and keeps the others, so what the
// old key sealed still opens; removing the old one then leaves only the new.
// The current key cannot be removed.
func TestFileKeysAreAddedAsCurrentAndRemovedWhenNotCurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyring.json")
	first, err := keyring.CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := first.Seal([]byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := keyring.AddFileKey(path)
	if err != nil || id != 2 {
		t.Fatalf("AddFileKey = %d, %v; want 2", id, err)
	}
	ring, err := keyring.LoadFile(path)
	if err != nil || ring.CurrentKeyID() != 2 {
		t.Fatalf("after adding: %v, current %d", err, ring.CurrentKeyID())
	}
	if got, err := ring.Open(sealed, []byte("aad")); err != nil || string(got) != "secret" {
		t.Fatalf("the old key's ciphertext after adding: %q, %v", got, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode after adding: %v, %v", info.Mode().Perm(), err)
	}
	if err := keyring.RemoveFileKey(path, 2); err == nil {
		t.Fatal("the current key was removed")
	}
	if err := keyring.RemoveFileKey(path, 1); err != nil {
		t.Fatal(err)
	}
	if ids, current, err := keyring.FileKeys(path); err != nil || current != 2 || len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("after removing key 1: %v current %d, %v", ids, current, err)
	}
	if err := keyring.RemoveFileKey(path, 1); err == nil {
		t.Fatal("removing a key the file does not hold succeeded")
	}
}
