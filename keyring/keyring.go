// Package keyring seals secrets with AES-256-GCM under a versioned set of keys.
//
// Every ciphertext carries the ID of the key that sealed it, so keys can be added
// and made current while older ciphertexts still open. The caller's associated data
// (a row's identity and column) is authenticated with the ciphertext: a ciphertext
// moved to another row or column does not open.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

// formatVersion is the first byte of every ciphertext, so the layout can change
// later without guessing.
const formatVersion byte = 1

const headerSize = 1 + 4 // format version, key ID

// ErrOpen is returned for a ciphertext that does not open: tampered, truncated,
// sealed for other associated data, or under a key this ring does not hold. It
// deliberately does not say which.
var ErrOpen = errors.New("keyring: ciphertext does not open")

// Key is one version of the key material.
type Key struct {
	ID     uint32
	Secret []byte
}

// Keyring holds the keys able to open ciphertexts and the one that seals new ones.
// It is safe for concurrent use; it never changes after New.
type Keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// New builds a key ring from keys; current names the key that seals.
func New(current uint32, keys []Key) (*Keyring, error) {
	ring := &Keyring{current: current, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("keyring: key %d is %d bytes, want %d", k.ID, len(k.Secret), KeySize)
		}
		if _, dup := ring.aeads[k.ID]; dup {
			return nil, fmt.Errorf("keyring: key %d appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", k.ID, err)
		}
		ring.aeads[k.ID] = aead
	}
	if _, ok := ring.aeads[current]; !ok {
		return nil, fmt.Errorf("keyring: current key %d is not in the ring", current)
	}
	return ring, nil
}

// NewKey returns fresh random key material with the given ID.
func NewKey(id uint32) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("keyring: generating key: %w", err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// CurrentKeyID is the ID of the key that seals new ciphertexts.
func (r *Keyring) CurrentKeyID() uint32 { return r.current }

// Seal encrypts plaintext under the current key, bound to aad.
func (r *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := r.aeads[r.current]
	out := make([]byte, headerSize+aead.NonceSize(), headerSize+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = formatVersion
	binary.BigEndian.PutUint32(out[1:headerSize], r.current)
	nonce := out[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keyring: generating nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, associatedData(out[:headerSize], aad)), nil
}

// Open decrypts a ciphertext made by Seal with the same aad, choosing the key by
// the ID stored in the ciphertext.
func (r *Keyring) Open(ciphertext, aad []byte) ([]byte, error) {
	keyID, ok := KeyID(ciphertext)
	if !ok {
		return nil, ErrOpen
	}
	aead, ok := r.aeads[keyID]
	if !ok || len(ciphertext) < headerSize+aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce := ciphertext[headerSize : headerSize+aead.NonceSize()]
	body := ciphertext[headerSize+aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, body, associatedData(ciphertext[:headerSize], aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}

// KeyID reports which key sealed a ciphertext, without opening it.
func KeyID(ciphertext []byte) (uint32, bool) {
	if len(ciphertext) < headerSize || ciphertext[0] != formatVersion {
		return 0, false
	}
	return binary.BigEndian.Uint32(ciphertext[1:headerSize]), true
}

// associatedData authenticates the header too, so a ciphertext's key ID cannot be
// rewritten to point at another key.
func associatedData(header, aad []byte) []byte {
	out := make([]byte, 0, len(header)+len(aad))
	return append(append(out, header...), aad...)
}
