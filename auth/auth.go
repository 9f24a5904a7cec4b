// Package auth issues API keys, recognises them, and says what the caller behind
// one may do.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bifrost/integrations/store"
)

// keyPrefix marks Bifrost keys so secret scanners and people can tell them apart.
const keyPrefix = "bfk_"

// keyLen is the length of every key NewKey makes: anything else is refused
// before it is hashed or looked up.
var keyLen = len(keyPrefix) + base64.RawURLEncoding.EncodedLen(keyBytes)

// keyBytes is a key's entropy.
const keyBytes = 32

// ErrUnauthenticated is returned for a missing, unknown, expired or revoked key.
// The reason is in the message; the key never is.
var ErrUnauthenticated = errors.New("unauthenticated")

// Refused is an authentication refusal that reads as its reason alone
// ("unknown api key"), not "unknown api key: unauthenticated", and is
// ErrUnauthenticated: callers see the reason once, after the code that
// already says what kind of error it is.
func Refused(reason string) error { return refusal(reason) }

type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrUnauthenticated }

// NewKey returns a fresh key ID, the secret to hand out once, and its hash to
// store. The secret has 256 bits of entropy, so a plain SHA-256 is a safe,
// constant-cost way to look it up.
func NewKey() (id, secret string, hash []byte, err error) {
	raw := make([]byte, keyBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", nil, fmt.Errorf("generating api key: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	return uuid.Must(uuid.NewV7()).String(), secret, Hash(secret), nil
}

// Hash is what the store keeps of a key.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Principal is the authenticated caller.
type Principal struct {
	KeyID string
	Role  store.Role
	// OrgID is the organization a worker key is bound to; empty otherwise.
	OrgID string
}

// IsAdmin reports whether the caller may use the admin API.
func (p Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

// ActsForAllOrgs reports whether the caller may act for every organization
// (and for none: the global scope, entity lookups across organizations).
func (p Principal) ActsForAllOrgs() bool {
	return p.Role == store.RoleAdmin || p.Role == store.RoleWorkerAllOrgs
}

// CanAccessOrg reports whether the caller may read and write orgID's data; an
// empty orgID is no organization, which only callers acting for all may name.
// Anything it does not know, an empty or unknown role or a worker key bound
// to no organization, reaches nothing.
func (p Principal) CanAccessOrg(orgID string) bool {
	switch {
	case p.ActsForAllOrgs():
		return true
	case p.Role == store.RoleWorker:
		return p.OrgID != "" && p.OrgID == orgID
	}
	return false
}

// Known reports whether p is a caller at all: a principal with a role the
// service knows. The zero Principal, what a handler reached outside the
// authentication interceptor sees, is not.
func (p Principal) Known() bool {
	return p.ActsForAllOrgs() || (p.Role == store.RoleWorker && p.OrgID != "")
}

// KeyLookup finds a key by the hash of its secret.
type KeyLookup interface {
	APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error)
}

// Authenticate checks a presented key and returns who it belongs to.
func Authenticate(ctx context.Context, keys KeyLookup, secret string, now time.Time) (Principal, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) != keyLen {
		return Principal{}, Refused("malformed api key")
	}
	k, err := keys.APIKeyByHash(ctx, Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, Refused("unknown api key")
	}
	if err != nil {
		return Principal{}, err
	}
	if k.RevokedAt != nil {
		return Principal{}, Refused(fmt.Sprintf("api key %s is revoked", k.ID))
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return Principal{}, Refused(fmt.Sprintf("api key %s has expired", k.ID))
	}
	return Principal{KeyID: k.ID, Role: k.Role, OrgID: k.OrgID}, nil
}
