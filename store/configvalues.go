package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/config"
)

// configTable is one of the two tables of config values: an integration's
// defaults or a mapping's overrides. Both hold one value per row, a JSON text or,
// for secret keys, a ciphertext bound to the row.
type configTable struct {
	name  string
	owner string
}

var (
	integrationConfig = configTable{name: "integration_config", owner: "integration_id"}
	mappingConfig     = configTable{name: "mapping_config", owner: "mapping_id"}
)

type configRow struct {
	ID     string         `db:"id"`
	Key    string         `db:"key"`
	Value  sql.NullString `db:"value"`
	Secret []byte         `db:"secret"`
}

// loadConfig returns the owner's values, secrets decrypted, and which keys hold
// secrets.
func (s *Store) loadConfig(ctx context.Context, q sqlx.QueryerContext, t configTable, ownerID string) (map[string]any, []string, error) {
	var rows []configRow
	query := fmt.Sprintf(`SELECT id, key, value, secret FROM %s WHERE %s = ?`, t.name, t.owner)
	if err := sqlx.SelectContext(ctx, q, &rows, query, ownerID); err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", t.name, err)
	}
	values := make(map[string]any, len(rows))
	var secretKeys []string
	for _, r := range rows {
		if r.Secret != nil {
			v, err := s.open(t.name, "secret", r.ID, r.Secret)
			if err != nil {
				return nil, nil, err
			}
			values[r.Key] = v
			secretKeys = append(secretKeys, r.Key)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.Value.String), &v); err != nil {
			return nil, nil, fmt.Errorf("%s row %s holds invalid JSON: %w", t.name, r.ID, err)
		}
		values[r.Key] = v
	}
	return values, secretKeys, nil
}

// patchConfig applies a validated patch: keys with a value are set, keys with nil
// removed. A replaced value gets a new row, and so a new associated data.
func (s *Store) patchConfig(ctx context.Context, tx writeTx, t configTable, ownerID string, schema config.Schema, patch map[string]any) error {
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		del := fmt.Sprintf(`DELETE FROM %s WHERE %s = ? AND key = ?`, t.name, t.owner)
		if _, err := tx.ExecContext(ctx, del, ownerID, key); err != nil {
			return fmt.Errorf("removing %s %q: %w", t.name, key, err)
		}
		v := patch[key]
		if v == nil {
			continue
		}
		id := newID()
		var value sql.NullString
		var secret []byte
		if f, _ := schema.Field(key); f.Type == config.Secret {
			var err error
			if secret, err = s.seal(t.name, "secret", id, v.(string)); err != nil {
				return err
			}
		} else {
			raw, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encoding %s %q: %w", t.name, key, err)
			}
			value = sql.NullString{String: string(raw), Valid: true}
		}
		ins := fmt.Sprintf(`INSERT INTO %s (id, %s, key, value, secret) VALUES (?, ?, ?, ?, ?)`, t.name, t.owner)
		if _, err := tx.ExecContext(ctx, ins, id, ownerID, key, value, secret); err != nil {
			return fmt.Errorf("storing %s %q: %w", t.name, key, err)
		}
	}
	return nil
}

func loadSchema(ctx context.Context, q sqlx.QueryerContext, integrationID string) (config.Schema, error) {
	var rows []struct {
		Key         string `db:"key"`
		Type        string `db:"type"`
		Required    bool   `db:"required"`
		Description string `db:"description"`
	}
	err := sqlx.SelectContext(ctx, q, &rows,
		`SELECT key, type, required, description FROM config_fields WHERE integration_id = ? ORDER BY position`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("loading config schema: %w", err)
	}
	schema := make(config.Schema, 0, len(rows))
	for _, r := range rows {
		schema = append(schema, config.Field{Key: r.Key, Type: config.Type(r.Type), Required: r.Required, Description: r.Description})
	}
	return schema, nil
}

func replaceSchema(ctx context.Context, tx writeTx, integrationID string, schema config.Schema) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM config_fields WHERE integration_id = ?`, integrationID); err != nil {
		return fmt.Errorf("replacing config schema: %w", err)
	}
	for i, f := range schema {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO config_fields (integration_id, key, position, type, required, description) VALUES (?, ?, ?, ?, ?, ?)`,
			integrationID, f.Key, i, string(f.Type), f.Required, f.Description)
		if err != nil {
			return fmt.Errorf("storing config field %q: %w", f.Key, err)
		}
	}
	return nil
}
