package keyring_test

import (
	"bytes"
	"testing"

	"github.com/bifrost/integrations/keyring"
)

// FuzzOpen decodes arbitrary bytes as ciphertexts: it must never panic, and
// must never accept anything Seal did not make for that associated data.
func FuzzOpen(f *testing.F) {
	ring, err := keyring.New(1, []keyring.Key{{ID: 1, Secret: bytes.Repeat([]byte{7}, keyring.KeySize)}})
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := ring.Seal([]byte("seed secret"), []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, []byte("aad"), []byte("plain"))
	f.Add([]byte{1, 0, 0, 0, 1}, []byte(""), []byte(""))
	f.Add([]byte{}, []byte("x"), []byte("y"))
	f.Fuzz(func(t *testing.T, ciphertext, aad, plaintext []byte) {
		// The only ciphertext ever made under this key for fuzz input is the seed's
		// (sealed anew, with another nonce, in every process).
		if pt, err := ring.Open(ciphertext, aad); err == nil && (string(pt) != "seed secret" || string(aad) != "aad") {
			t.Fatalf("Open accepted bytes Seal never made: %x -> %q", ciphertext, pt)
		}
		ct, err := ring.Seal(plaintext, aad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ring.Open(ct, aad)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("round trip: %q, %v", got, err)
		}
		if _, err := ring.Open(ct, append(bytes.Clone(aad), 0)); err == nil {
			t.Fatal("opened under other associated data")
		}
	})
}
