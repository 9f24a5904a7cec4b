package keyring

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrEmpty is returned by a Rotating ring that holds no keys yet.
var ErrEmpty = errors.New("keyring: no keys loaded")

// Rotating is a key ring whose keys can be replaced while it is in use: reads
// and writes go on during a rotation. When asked to open a ciphertext under a
// key it does not know (another replica rotated), it reloads once and retries.
type Rotating struct {
	ring   atomic.Pointer[Keyring]
	mu     sync.Mutex
	reload func() error
}

// NewRotating returns an empty ring; Set fills it.
func NewRotating() *Rotating { return &Rotating{} }

// Set makes ring the one in use.
func (r *Rotating) Set(ring *Keyring) { r.ring.Store(ring) }

// OnUnknownKey sets what to call when a ciphertext names a key not in the ring.
func (r *Rotating) OnUnknownKey(reload func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reload = reload
}

// Seal seals under the current key.
func (r *Rotating) Seal(plaintext, aad []byte) ([]byte, error) {
	ring := r.ring.Load()
	if ring == nil {
		return nil, ErrEmpty
	}
	return ring.Seal(plaintext, aad)
}

// Open opens with the key the ciphertext names, reloading the ring once if that
// key is unknown.
func (r *Rotating) Open(ciphertext, aad []byte) ([]byte, error) {
	ring := r.ring.Load()
	if ring == nil {
		return nil, ErrEmpty
	}
	id, ok := KeyID(ciphertext)
	if ok && !ring.Has(id) {
		r.mu.Lock()
		reload := r.reload
		r.mu.Unlock()
		if reload != nil && reload() == nil {
			ring = r.ring.Load()
		}
	}
	return ring.Open(ciphertext, aad)
}

// CurrentKeyID is the ID of the key that seals, 0 before Set.
func (r *Rotating) CurrentKeyID() uint32 {
	if ring := r.ring.Load(); ring != nil {
		return ring.CurrentKeyID()
	}
	return 0
}

// Current returns the ring in use, nil before Set.
func (r *Rotating) Current() *Keyring { return r.ring.Load() }

// Has reports whether the ring holds key id.
func (r *Keyring) Has(id uint32) bool {
	_, ok := r.aeads[id]
	return ok
}

// KeyIDBytes is how a key ID appears in a ciphertext: the four bytes after the
// format byte, big-endian. Stores use it to find ciphertexts by key in SQL.
func KeyIDBytes(id uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, id)
}
