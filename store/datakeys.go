package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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
	{"webhooks", "secret"},
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
		if err != nil {
			return translate(err, fmt.Sprintf("data key %d", id))
		}
		return s.recordEvent(ctx, tx, Event{Type: EventKeyRotated, Reason: fmt.Sprintf("data key %d is now current", id)})
	})
}

// RewrapDataKey replaces data key id's wrapping with wrapped where it is still
// old (what the caller read), and reports whether it did: another replica
// may have re-wrapped it first.
func (s *Store) RewrapDataKey(ctx context.Context, id uint32, old, wrapped []byte) (bool, error) {
	var done bool
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ? WHERE id = ? AND wrapped = ?`, wrapped, id, old)
		if err != nil {
			return fmt.Errorf("re-wrapping data key %d: %w", id, err)
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}

// DeleteDataKey removes a data key that is not current and seals nothing.
func (s *Store) DeleteDataKey(ctx context.Context, id uint32) error {
	return s.inTx(ctx, func(tx writeTx) error {
		counts, err := ciphertextCounts(ctx, tx)
		if err != nil {
			return err
		}
		if n := counts[id]; n > 0 {
			return stillSeals(ctx, tx, id, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE id = ? AND NOT current`, id)
		if err != nil {
			return fmt.Errorf("deleting data key %d: %w", id, err)
		}
		if err := requireAffected(res, fmt.Sprintf("data key %d (that is not current)", id)); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventKeyRetired, Reason: fmt.Sprintf("data key %d is retired", id)})
	})
}

// stillSeals is the error for retiring key id while it seals n values, naming
// those that do not open. Re-encryption skips them, so the key stays until each
// is set again or deleted: retiring it would make sure they never open (a value
// may fail for a passing reason, a replica's stale keys, and open on the next
// pass) and would hide that secrets are damaged. A person decides, not the job.
func stillSeals(ctx context.Context, q sqlx.QueryerContext, id uint32, n int64) error {
	bad, err := undecryptableValues(ctx, q)
	if err != nil {
		return err
	}
	var named []string
	for _, v := range bad {
		if v.KeyID == id {
			named = append(named, v.String())
		}
	}
	if len(named) == 0 {
		return fmt.Errorf("data key %d still seals %d values; wait for re-encryption: %w", id, n, ErrInUse)
	}
	count := len(named)
	if count > 5 {
		named = append(named[:5], fmt.Sprintf("and %d more", count-5))
	}
	return fmt.Errorf("data key %d still seals %d values, %d of which do not open and cannot be re-encrypted (%s); set each again or delete it, then retire the key: %w",
		id, n, count, strings.Join(named, ", "), ErrInUse)
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
			// A value too short to name a key counts under key 0, which no
			// data key has (see sealedBy).
			var id uint32
			if len(r.Key) == 4 {
				id = binary.BigEndian.Uint32(r.Key)
			}
			counts[id] += r.Count
		}
	}
	return counts, nil
}

// ReencryptCursor is where a pass of Reencrypt over every sealed column goes on:
// the column, and the last row looked at in it. The zero value starts a pass.
type ReencryptCursor struct {
	column int
	after  string
}

// Done reports whether the pass has looked at every sealed column.
func (c ReencryptCursor) Done() bool { return c.column >= len(secretColumns) }

// UndecryptableValue names a stored value that does not open: by table, column
// and row, never by content. KeyID is the key its ciphertext names (0 when it
// names none).
type UndecryptableValue struct {
	Table  string
	Column string
	RowID  string
	KeyID  uint32
}

func (v UndecryptableValue) String() string {
	return fmt.Sprintf("%s.%s of row %s (data key %d)", v.Table, v.Column, v.RowID, v.KeyID)
}

// ReencryptBatch is what one call of Reencrypt did.
type ReencryptBatch struct {
	// Reencrypted is how many values it sealed anew.
	Reencrypted int
	// Found are the values that did not open and were not recorded as such
	// before: each is recorded (see UndecryptableValues), reported here once,
	// and skipped.
	Found []UndecryptableValue
	// Next is where the next batch of the pass starts; Next.Done() when the
	// pass is over.
	Next ReencryptCursor
}

// Reencrypt looks at up to limit values that are not under key current, from
// cursor from on, and seals each anew (with the cipher's current key, which
// must be current), in one transaction. A value changed meanwhile is left for
// the next pass. A value that does not open is skipped, and recorded, so that
// one bad value neither rolls the batch back nor stops the rotation; it is
// tried again on every pass, and its record goes once it opens, is rewritten
// or is deleted.
func (s *Store) Reencrypt(ctx context.Context, current uint32, limit int, from ReencryptCursor) (ReencryptBatch, error) {
	var batch ReencryptBatch
	// Untracked: values change their ciphertext, not their plaintext, so what
	// caches hold stays right.
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		batch = ReencryptBatch{Next: from}
		known, err := recordedUndecryptable(ctx, tx)
		if err != nil {
			return err
		}
		looked := 0
		for c := &batch.Next; !c.Done() && looked < limit; {
			col := secretColumns[c.column]
			var rows []struct {
				ID         string `db:"id"`
				Ciphertext []byte `db:"ct"`
			}
			query := fmt.Sprintf(`SELECT id, %[2]s AS ct FROM %[1]s WHERE %[2]s IS NOT NULL AND substr(%[2]s, 2, 4) <> ? AND id > ? ORDER BY id LIMIT ?`, col.table, col.column)
			want := limit - looked
			if err := sqlx.SelectContext(ctx, tx, &rows, query, keyring.KeyIDBytes(current), c.after, want); err != nil {
				return fmt.Errorf("finding values to re-encrypt in %s.%s: %w", col.table, col.column, err)
			}
			update := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = ? WHERE id = ? AND %[2]s = ?`, col.table, col.column)
			for _, r := range rows {
				looked++
				c.after = r.ID
				ref := valueRef{col.table, col.column, r.ID}
				recorded, wasRecorded := known[ref]
				plaintext, err := s.open(col.table, col.column, r.ID, r.Ciphertext)
				if errors.Is(err, keyring.ErrOpen) {
					if !wasRecorded || !bytes.Equal(recorded, r.Ciphertext) {
						if err := recordUndecryptable(ctx, tx, ref, r.Ciphertext, s.timestamp()); err != nil {
							return err
						}
						batch.Found = append(batch.Found, UndecryptableValue{Table: col.table, Column: col.column, RowID: r.ID, KeyID: sealedBy(r.Ciphertext)})
					}
					continue
				}
				if err != nil {
					return err
				}
				sealed, err := s.seal(col.table, col.column, r.ID, plaintext)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, update, sealed, r.ID, r.Ciphertext); err != nil {
					return fmt.Errorf("re-encrypting %s.%s: %w", col.table, col.column, err)
				}
				if wasRecorded {
					if err := forgetUndecryptable(ctx, tx, ref); err != nil {
						return err
					}
				}
				batch.Reencrypted++
			}
			if len(rows) < want {
				c.column, c.after = c.column+1, ""
			}
		}
		if batch.Next.Done() && len(known) > 0 {
			return pruneUndecryptable(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return ReencryptBatch{Next: from}, err
	}
	return batch, nil
}

// sealedBy is the key a stored value counts under: the key ID its header names,
// read as the SQL queries read it (substr(value, 2, 4)), whatever its format
// byte; 0 for a value too short to name one.
func sealedBy(ciphertext []byte) uint32 {
	if len(ciphertext) < 5 {
		return 0
	}
	return binary.BigEndian.Uint32(ciphertext[1:5])
}

// valueRef is one sealed value's place: table, column, row.
type valueRef struct{ table, column, rowID string }

// recordedUndecryptable returns the recorded ciphertexts that did not open.
func recordedUndecryptable(ctx context.Context, q sqlx.QueryerContext) (map[valueRef][]byte, error) {
	var rows []struct {
		Table      string `db:"table_name"`
		Column     string `db:"column_name"`
		RowID      string `db:"row_id"`
		Ciphertext []byte `db:"ciphertext"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT table_name, column_name, row_id, ciphertext FROM undecryptable_values`); err != nil {
		return nil, fmt.Errorf("loading undecryptable values: %w", err)
	}
	known := make(map[valueRef][]byte, len(rows))
	for _, r := range rows {
		known[valueRef{r.Table, r.Column, r.RowID}] = r.Ciphertext
	}
	return known, nil
}

func recordUndecryptable(ctx context.Context, tx writeTx, ref valueRef, ciphertext []byte, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO undecryptable_values (table_name, column_name, row_id, ciphertext, found_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (table_name, column_name, row_id) DO UPDATE SET ciphertext = excluded.ciphertext, found_at = excluded.found_at`,
		ref.table, ref.column, ref.rowID, ciphertext, now)
	if err != nil {
		return fmt.Errorf("recording an undecryptable value of %s.%s: %w", ref.table, ref.column, err)
	}
	return nil
}

func forgetUndecryptable(ctx context.Context, tx writeTx, ref valueRef) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM undecryptable_values WHERE table_name = ? AND column_name = ? AND row_id = ?`, ref.table, ref.column, ref.rowID)
	if err != nil {
		return fmt.Errorf("forgetting an undecryptable value of %s.%s: %w", ref.table, ref.column, err)
	}
	return nil
}

// pruneUndecryptable forgets the records whose value has since been rewritten
// or deleted.
func pruneUndecryptable(ctx context.Context, tx writeTx) error {
	for _, c := range secretColumns {
		query := fmt.Sprintf(`DELETE FROM undecryptable_values WHERE table_name = ? AND column_name = ? AND NOT EXISTS (
SELECT 1 FROM %[1]s t WHERE t.id = undecryptable_values.row_id AND t.%[2]s = undecryptable_values.ciphertext)`, c.table, c.column)
		if _, err := tx.ExecContext(ctx, query, c.table, c.column); err != nil {
			return fmt.Errorf("pruning undecryptable values of %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

// UndecryptableValues returns the values the re-encryption job found do not
// open and that are still stored as they were found, by table, column and row.
func (s *Store) UndecryptableValues(ctx context.Context) ([]UndecryptableValue, error) {
	return undecryptableValues(ctx, s.reader())
}

func undecryptableValues(ctx context.Context, q sqlx.QueryerContext) ([]UndecryptableValue, error) {
	var out []UndecryptableValue
	for _, c := range secretColumns {
		var rows []struct {
			RowID      string `db:"row_id"`
			Ciphertext []byte `db:"ciphertext"`
		}
		query := fmt.Sprintf(`SELECT u.row_id, u.ciphertext FROM undecryptable_values u JOIN %[1]s t ON t.id = u.row_id AND t.%[2]s = u.ciphertext
WHERE u.table_name = ? AND u.column_name = ? ORDER BY u.row_id`, c.table, c.column)
		if err := sqlx.SelectContext(ctx, q, &rows, query, c.table, c.column); err != nil {
			return nil, fmt.Errorf("listing undecryptable values of %s.%s: %w", c.table, c.column, err)
		}
		for _, r := range rows {
			out = append(out, UndecryptableValue{Table: c.table, Column: c.column, RowID: r.RowID, KeyID: sealedBy(r.Ciphertext)})
		}
	}
	return out, nil
}
