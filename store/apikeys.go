package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Role is what an API key may do.
type Role string

const (
	RoleAdmin         Role = "admin"
	RoleWorker        Role = "worker"
	RoleWorkerAllOrgs Role = "worker_all_orgs"
)

// APIKey is a key's metadata; the key itself is never stored, only its hash.
type APIKey struct {
	ID        string
	Name      string
	Role      Role
	OrgID     string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

type apiKeyRow struct {
	ID        string       `db:"id"`
	Name      string       `db:"name"`
	Role      string       `db:"role"`
	OrgID     string       `db:"org_id"`
	CreatedAt time.Time    `db:"created_at"`
	ExpiresAt sql.NullTime `db:"expires_at"`
	RevokedAt sql.NullTime `db:"revoked_at"`
}

func (r apiKeyRow) key() APIKey {
	return APIKey{
		ID: r.ID, Name: r.Name, Role: Role(r.Role), OrgID: r.OrgID, CreatedAt: r.CreatedAt,
		ExpiresAt: timePtr(r.ExpiresAt), RevokedAt: timePtr(r.RevokedAt),
	}
}

const apiKeySelect = `SELECT id, name, role, org_id, created_at, expires_at, revoked_at FROM api_keys`

// CreateAPIKey stores a key's metadata under the hash of its secret. The ID is
// chosen by the caller, because it is part of the key handed out.
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey, hash []byte) (APIKey, error) {
	var out APIKey
	err := s.inTx(ctx, func(tx writeTx) error {
		var err error
		out, err = s.insertAPIKey(ctx, tx, k, hash)
		return err
	})
	return out, err
}

// errInstalled is CreateFirstAPIKey finding that another call came first.
var errInstalled = errors.New("the installation already has its first api key")

// CreateFirstAPIKey creates k unless the installation has had an API key
// before: of replicas starting together on an empty database, exactly one
// creates it, and the others get created == false.
func (s *Store) CreateFirstAPIKey(ctx context.Context, k APIKey, hash []byte) (created bool, err error) {
	err = s.inTx(ctx, func(tx writeTx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO installation (id, created_at) VALUES (1, ?)`, s.timestamp()); err != nil {
			if err := translate(err, "installation"); errors.Is(err, ErrAlreadyExists) {
				return errInstalled
			}
			return fmt.Errorf("marking the installation: %w", err)
		}
		var keys int
		if err := sqlx.GetContext(ctx, tx, &keys, `SELECT COUNT(*) FROM api_keys`); err != nil {
			return fmt.Errorf("counting api keys: %w", err)
		}
		if keys > 0 {
			return errInstalled
		}
		_, err := s.insertAPIKey(ctx, tx, k, hash)
		return err
	})
	if errors.Is(err, errInstalled) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) insertAPIKey(ctx context.Context, tx writeTx, k APIKey, hash []byte) (APIKey, error) {
	_, err := tx.ExecContext(ctx, `
INSERT INTO api_keys (id, name, key_hash, role, org_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, hash, string(k.Role), k.OrgID, s.timestamp(), nullTime(k.ExpiresAt))
	if err != nil {
		return APIKey{}, translate(err, "api key")
	}
	var row apiKeyRow
	if err := sqlx.GetContext(ctx, tx, &row, apiKeySelect+` WHERE id = ?`, k.ID); err != nil {
		return APIKey{}, translate(err, "api key")
	}
	return row.key(), nil
}

// APIKeyByHash returns the key whose secret hashes to hash. It is cached until
// the next write of a definition anywhere, so a revocation counts from the next
// call on.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	// Tagged with the generation read before the row: a write in between moves
	// the generation, so the entry is never served past it.
	return readThrough(ctx, s, "apikey\x00"+string(hash), definitionWrites, func(generation int64) (APIKey, int64, error) {
		var row apiKeyRow
		if err := sqlx.GetContext(ctx, s.reader(), &row, apiKeySelect+` WHERE key_hash = ?`, hash); err != nil {
			return APIKey{}, 0, translate(err, "api key")
		}
		return row.key(), generation, nil
	})
}

// ListAPIKeys lists keys ordered by ID (creation order).
func (s *Store) ListAPIKeys(ctx context.Context, page Page) ([]APIKey, error) {
	var rows []apiKeyRow
	if err := sqlx.SelectContext(ctx, s.reader(), &rows, apiKeySelect+` WHERE id > ? ORDER BY id LIMIT ?`, page.After, page.Limit); err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	out := make([]APIKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.key())
	}
	return out, nil
}

// RevokeAPIKey marks a key revoked; revoking twice keeps the first time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	var out APIKey
	err := s.inTx(ctx, func(tx writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, s.timestamp(), id)
		if err != nil {
			return translate(err, fmt.Sprintf("api key %s", id))
		}
		if err := requireAffected(res, fmt.Sprintf("api key %s", id)); err != nil {
			return err
		}
		var row apiKeyRow
		if err := sqlx.GetContext(ctx, tx, &row, apiKeySelect+` WHERE id = ?`, id); err != nil {
			return translate(err, fmt.Sprintf("api key %s", id))
		}
		out = row.key()
		return nil
	})
	return out, err
}

// HasAPIKeys reports whether any key exists, revoked or not.
func (s *Store) HasAPIKeys(ctx context.Context) (bool, error) {
	var n int
	if err := sqlx.GetContext(ctx, s.reader(), &n, `SELECT COUNT(*) FROM (SELECT 1 FROM api_keys LIMIT 1) AS any_key`); err != nil {
		return false, fmt.Errorf("counting api keys: %w", err)
	}
	return n > 0, nil
}
