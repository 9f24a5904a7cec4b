package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/keyring"
)

// DataKey is a data key as stored: wrapped by the master key.
type DataKey struct {
	ID           uint32       `db:"id"`
	Wrapped      []byte       `db:"wrapped"`
	Current      bool         `db:"current"`
	CreatedAt    time.Time    `db:"created_at"`
	SupersededAt sql.NullTime `db:"superseded_at"`
}

// secretColumn is a column that holds ciphertexts, sealed with its table,
// column and row ID as associated data.
type secretColumn struct{ table, column string }

// secretColumns lists every sealed column, for re-encryption and counting.
var secretColumns = []secretColumn{
	{"oauth_connections", "client_secret"},
	{"oauth_tokens", "access_token"},
	{"oauth_tokens", "refresh_token"},
	{"integration_config", "secret"},
	{"mapping_config", "secret"},
	{"oauth_states", "verifier"},
}

// DataKeys returns every data key, oldest first.
func (s *Store) DataKeys(ctx context.Context) ([]DataKey, error) {
	var keys []DataKey
	if err := sqlx.SelectContext(ctx, s.keys, &keys, `SELECT id, wrapped, current, created_at, superseded_at FROM data_keys ORDER BY id`); err != nil {
		return nil, fmt.Errorf("loading data keys: %w", err)
	}
	return keys, nil
}

// AddDataKey stores a new wrapped data key and makes it current, in one
// transaction. It fails with ErrAlreadyExists when the ID is taken (another
// replica rotated at the same moment).
func (s *Store) AddDataKey(ctx context.Context, id uint32, wrapped []byte) error {
	return s.inTx(ctx, func(tx writeTx) error {
		now := s.timestamp()
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET current = FALSE, superseded_at = ? WHERE current`, now); err != nil {
			return fmt.Errorf("superseding the current data key: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, wrapped, current, created_at) VALUES (?, ?, TRUE, ?)`, id, wrapped, now)
		return translate(err, fmt.Sprintf("data key %d", id))
	})
}

// DeleteDataKey removes a data key that is not current and seals nothing.
func (s *Store) DeleteDataKey(ctx context.Context, id uint32) error {
	return s.inTx(ctx, func(tx writeTx) error {
		counts, err := ciphertextCounts(ctx, tx)
		if err != nil {
			return err
		}
		if n := counts[id]; n > 0 {
			return fmt.Errorf("data key %d still seals %d values: %w", id, n, ErrInUse)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE id = ? AND NOT current`, id)
		if err != nil {
			return fmt.Errorf("deleting data key %d: %w", id, err)
		}
		return requireAffected(res, fmt.Sprintf("data key %d (that is not current)", id))
	})
}

// CiphertextCounts returns how many stored values each data key seals.
func (s *Store) CiphertextCounts(ctx context.Context) (map[uint32]int64, error) {
	return ciphertextCounts(ctx, s.reader())
}

func ciphertextCounts(ctx context.Context, q sqlx.QueryerContext) (map[uint32]int64, error) {
	counts := map[uint32]int64{}
	for _, c := range secretColumns {
		var rows []struct {
			Key   []byte `db:"k"`
			Count int64  `db:"n"`
		}
		query := fmt.Sprintf(`SELECT substr(%[2]s, 2, 4) AS k, COUNT(*) AS n FROM %[1]s WHERE %[2]s IS NOT NULL GROUP BY substr(%[2]s, 2, 4)`, c.table, c.column)
		if err := sqlx.SelectContext(ctx, q, &rows, query); err != nil {
			return nil, fmt.Errorf("counting ciphertexts of %s.%s: %w", c.table, c.column, err)
		}
		for _, r := range rows {
			if len(r.Key) != 4 {
				return nil, fmt.Errorf("%s.%s holds a value that is no ciphertext", c.table, c.column)
			}
			counts[binary.BigEndian.Uint32(r.Key)] += r.Count
		}
	}
	return counts, nil
}

// Reencrypt seals up to limit values that are not under key current anew (with
// the cipher's current key, which must be current), in one transaction. A value
// changed meanwhile is left for the next batch. It returns how many it sealed.
func (s *Store) Reencrypt(ctx context.Context, current uint32, limit int) (int, error) {
	done := 0
	// Untracked: values change their ciphertext, not their plaintext, so what
	// caches hold stays right.
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		for _, c := range secretColumns {
			if done >= limit {
				return nil
			}
			var rows []struct {
				ID         string `db:"id"`
				Ciphertext []byte `db:"ct"`
			}
			query := fmt.Sprintf(`SELECT id, %[2]s AS ct FROM %[1]s WHERE %[2]s IS NOT NULL AND substr(%[2]s, 2, 4) <> ? LIMIT ?`, c.table, c.column)
			if err := sqlx.SelectContext(ctx, tx, &rows, query, keyring.KeyIDBytes(current), limit-done); err != nil {
				return fmt.Errorf("finding values to re-encrypt in %s.%s: %w", c.table, c.column, err)
			}
			update := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = ? WHERE id = ? AND %[2]s = ?`, c.table, c.column)
			for _, r := range rows {
				plaintext, err := s.open(c.table, c.column, r.ID, r.Ciphertext)
				if err != nil {
					return err
				}
				sealed, err := s.seal(c.table, c.column, r.ID, plaintext)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, update, sealed, r.ID, r.Ciphertext); err != nil {
					return fmt.Errorf("re-encrypting %s.%s: %w", c.table, c.column, err)
				}
				done++
			}
		}
		return nil
	})
	return done, err
}
