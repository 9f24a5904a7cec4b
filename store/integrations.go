package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/config"
)

// Integration is an external system's definition with its platform defaults.
type Integration struct {
	ID              string
	Name            string
	Description     string
	DefaultEntityID string
	// WorkersBindEntities lets keys bound to one organization bind it to an
	// external entity no other organization holds; otherwise only keys that
	// may act for every organization bind entities.
	WorkersBindEntities bool
	// ConnectionName is the linked OAuth connection; empty for none.
	ConnectionName string
	ConnectionID   string
	Schema         config.Schema
	// Defaults holds the platform default config, secret values decrypted.
	Defaults  map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
}

type integrationRow struct {
	ID              string         `db:"id"`
	Name            string         `db:"name"`
	Description     string         `db:"description"`
	DefaultEntityID string         `db:"default_entity_id"`
	WorkersBind     bool           `db:"workers_bind_entities"`
	ConnectionID    sql.NullString `db:"oauth_connection_id"`
	ConnectionName  sql.NullString `db:"connection_name"`
	CreatedAt       time.Time      `db:"created_at"`
	UpdatedAt       time.Time      `db:"updated_at"`
}

// connection_name comes from a subquery, not a JOIN: SQLite re-prepares a
// statement that joins tables every time its parameters are bound anew (5-10
// us a run), and one with a subquery it does not.
const integrationSelect = `
SELECT i.id, i.name, i.description, i.default_entity_id, i.workers_bind_entities, i.oauth_connection_id,
       (SELECT c.name FROM oauth_connections c WHERE c.id = i.oauth_connection_id) AS connection_name,
       i.created_at, i.updated_at
FROM integrations i`

// CreateIntegration stores a new integration with its schema and defaults.
func (s *Store) CreateIntegration(ctx context.Context, in Integration) (Integration, error) {
	if err := in.Schema.Validate(); err != nil {
		return Integration{}, err
	}
	if err := in.Schema.ValidatePatch(in.Defaults); err != nil {
		return Integration{}, err
	}
	var out Integration
	err := s.inTx(ctx, func(tx writeTx) error {
		connID, err := connectionIDByName(ctx, tx, in.ConnectionName)
		if err != nil {
			return err
		}
		id, now := newID(), s.timestamp()
		_, err = tx.ExecContext(ctx, `
INSERT INTO integrations (id, name, description, default_entity_id, workers_bind_entities, oauth_connection_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, in.Name, in.Description, in.DefaultEntityID, in.WorkersBindEntities, connID, now, now)
		if err != nil {
			return translate(err, fmt.Sprintf("integration %q", in.Name))
		}
		if err := s.checkEntitiesStayOwned(ctx, tx, Integration{ID: id, Name: in.Name}, connID.String, &in.DefaultEntityID); err != nil {
			return err
		}
		if err := replaceSchema(ctx, tx, id, in.Schema); err != nil {
			return err
		}
		if err := s.patchConfig(ctx, tx, integrationConfig, id, in.Schema, in.Defaults); err != nil {
			return err
		}
		if out, err = s.getIntegration(ctx, tx, in.Name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventIntegrationCreated, Integration: in.Name, Connection: out.ConnectionName})
	})
	return out, err
}

// GetIntegration returns the integration called name.
func (s *Store) GetIntegration(ctx context.Context, name string) (Integration, error) {
	var out Integration
	err := s.inReadTx(ctx, func(tx sqlx.QueryerContext) error {
		var err error
		out, err = s.getIntegration(ctx, tx, name)
		return err
	})
	return out, err
}

func (s *Store) getIntegration(ctx context.Context, q sqlx.QueryerContext, name string) (Integration, error) {
	var row integrationRow
	if err := sqlx.GetContext(ctx, q, &row, integrationSelect+` WHERE i.name = ?`, name); err != nil {
		return Integration{}, translate(err, fmt.Sprintf("integration %q", name))
	}
	return s.completeIntegration(ctx, q, row)
}

// integrationInTx is getIntegration for a write of mappings or tokens: the
// integration as tx sees it, from the cache while no definition has been
// written since it was read. The Definitions counter is read in tx, not taken
// from memory, so that the tag and what tx sees agree (on SQLite the in-memory
// counter moves only after a commit). tx must not have changed a definition:
// it could cache what it then rolls back. Callers must not modify what it
// returns.
func (s *Store) integrationInTx(ctx context.Context, tx writeTx, name string) (Integration, error) {
	g, err := readGeneration(ctx, tx)
	if err != nil {
		return Integration{}, err
	}
	return readThroughAt(s.cache, "integration\x00"+name, definitionWrites(g), func(current int64) (Integration, int64, error) {
		in, err := s.getIntegration(ctx, tx, name)
		return in, current, err
	})
}

// integrationIDOf finds the integration called name, for reads that need no
// more of it than that it exists.
func integrationIDOf(ctx context.Context, q sqlx.QueryerContext, name string) (string, error) {
	var id string
	if err := sqlx.GetContext(ctx, q, &id, `SELECT id FROM integrations WHERE name = ?`, name); err != nil {
		return "", translate(err, fmt.Sprintf("integration %q", name))
	}
	return id, nil
}

func (s *Store) completeIntegration(ctx context.Context, q sqlx.QueryerContext, row integrationRow) (Integration, error) {
	schema, err := loadSchema(ctx, q, row.ID)
	if err != nil {
		return Integration{}, err
	}
	defaults, _, err := s.loadConfig(ctx, q, integrationConfig, row.ID)
	if err != nil {
		return Integration{}, err
	}
	return Integration{
		ID:                  row.ID,
		Name:                row.Name,
		Description:         row.Description,
		DefaultEntityID:     row.DefaultEntityID,
		WorkersBindEntities: row.WorkersBind,
		ConnectionID:        row.ConnectionID.String,
		ConnectionName:      row.ConnectionName.String,
		Schema:              schema,
		Defaults:            defaults,
		CreatedAt:           row.CreatedAt,
		UpdatedAt:           row.UpdatedAt,
	}, nil
}

// ListIntegrations lists integrations ordered by name.
func (s *Store) ListIntegrations(ctx context.Context, page Page) ([]Integration, error) {
	var out []Integration
	err := s.inReadTx(ctx, func(tx sqlx.QueryerContext) error {
		var rows []integrationRow
		if err := sqlx.SelectContext(ctx, tx, &rows, integrationSelect+` WHERE i.name > ? ORDER BY i.name LIMIT ?`, page.After, page.Limit); err != nil {
			return fmt.Errorf("listing integrations: %w", err)
		}
		out = make([]Integration, 0, len(rows))
		for _, row := range rows {
			in, err := s.completeIntegration(ctx, tx, row)
			if err != nil {
				return err
			}
			out = append(out, in)
		}
		return nil
	})
	return out, err
}

// IntegrationUpdate names what UpdateIntegration changes; nil fields stay.
type IntegrationUpdate struct {
	Description         *string
	DefaultEntityID     *string
	WorkersBindEntities *bool
	// ConnectionName links another connection; an empty name unlinks. Mappings
	// that named a token of the old connection stop naming it: a token is only
	// ever sent to the connection that issued it.
	ConnectionName *string
	// Schema replaces the schema. A key that has stored values (defaults or
	// overrides) must keep its type.
	Schema *config.Schema
	// DefaultsPatch sets the keys it gives and removes those given as nil.
	DefaultsPatch map[string]any
}

// UpdateIntegration applies u to the integration called name.
func (s *Store) UpdateIntegration(ctx context.Context, name string, u IntegrationUpdate) (Integration, error) {
	var out Integration
	err := s.inTx(ctx, func(tx writeTx) error {
		cur, err := s.getIntegration(ctx, tx, name)
		if err != nil {
			return err
		}
		prev := cur
		schema := cur.Schema
		if u.Schema != nil {
			schema = *u.Schema
			if err := schema.Validate(); err != nil {
				return err
			}
			if err := checkStoredValuesFit(ctx, tx, cur, schema); err != nil {
				return err
			}
			if err := replaceSchema(ctx, tx, cur.ID, schema); err != nil {
				return err
			}
		}
		if u.DefaultsPatch != nil {
			if err := schema.ValidatePatch(u.DefaultsPatch); err != nil {
				return err
			}
			if err := s.patchConfig(ctx, tx, integrationConfig, cur.ID, schema, u.DefaultsPatch); err != nil {
				return err
			}
		}
		if u.Description != nil {
			cur.Description = *u.Description
		}
		if u.DefaultEntityID != nil {
			cur.DefaultEntityID = *u.DefaultEntityID
		}
		if u.WorkersBindEntities != nil {
			cur.WorkersBindEntities = *u.WorkersBindEntities
		}
		connID := sql.NullString{String: cur.ConnectionID, Valid: cur.ConnectionID != ""}
		if u.ConnectionName != nil {
			if connID, err = connectionIDByName(ctx, tx, *u.ConnectionName); err != nil {
				return err
			}
		}
		if err := s.checkEntitiesStayOwned(ctx, tx, prev, connID.String, u.DefaultEntityID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
UPDATE integrations SET description = ?, default_entity_id = ?, workers_bind_entities = ?, oauth_connection_id = ?, updated_at = ?
WHERE id = ?`, cur.Description, cur.DefaultEntityID, cur.WorkersBindEntities, connID, s.timestamp(), cur.ID)
		if err != nil {
			return translate(err, fmt.Sprintf("integration %q", name))
		}
		if connID.String != cur.ConnectionID {
			_, err = tx.ExecContext(ctx, `
UPDATE mappings SET oauth_token_id = NULL
WHERE integration_id = ? AND oauth_token_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.id = mappings.oauth_token_id AND t.connection_id = ?)`, cur.ID, connID)
			if err != nil {
				return fmt.Errorf("unlinking tokens of the old connection: %w", err)
			}
		}
		if out, err = s.getIntegration(ctx, tx, name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventIntegrationUpdated, Integration: name, Connection: out.ConnectionName})
	})
	return out, err
}

// checkEntitiesStayOwned refuses an update that would let an organization
// read tokens of an entity another organization holds: linking the
// integration to a connection on which another organization holds an entity
// its mappings hold (or which is a default there), and making an entity some
// organization holds on the connection (or of the integration) the default
// every organization without one reads.
func (s *Store) checkEntitiesStayOwned(ctx context.Context, tx writeTx, cur Integration, connectionID string, defaultEntity *string) error {
	if connectionID != "" && connectionID != cur.ConnectionID {
		conflicts, err := s.heldEntityConflicts(ctx, tx, cur.ID, connectionID)
		if err != nil {
			return err
		}
		if len(conflicts) > 0 {
			return fmt.Errorf("integration %q's mappings hold entities %v, which another organization holds on that connection or which are a default there; rebind them first: %w",
				cur.Name, conflicts, ErrInUse)
		}
	}
	if defaultEntity == nil || *defaultEntity == "" || strings.EqualFold(*defaultEntity, cur.DefaultEntityID) {
		return nil
	}
	if connectionID != "" {
		if err := s.lockConnectionEntities(ctx, tx, connectionID); err != nil {
			return err
		}
	}
	var held int
	err := sqlx.GetContext(ctx, tx, &held, `
SELECT COUNT(*) FROM mappings m JOIN integrations i ON i.id = m.integration_id
WHERE lower(m.entity_id) = lower(?) AND m.entity_id <> '' AND (i.id = ? OR (? <> '' AND i.oauth_connection_id = ?))`,
		*defaultEntity, cur.ID, connectionID, connectionID)
	if err != nil {
		return fmt.Errorf("checking who holds entity %q: %w", *defaultEntity, err)
	}
	if held > 0 {
		return fmt.Errorf("entity %q is bound to an organization; a default entity is every organization's: %w", *defaultEntity, ErrInUse)
	}
	return nil
}

// checkStoredValuesFit refuses a schema under which stored values would lose
// their meaning: a key with values must stay, with its type.
func checkStoredValuesFit(ctx context.Context, tx writeTx, cur Integration, schema config.Schema) error {
	var keys []string
	err := sqlx.SelectContext(ctx, tx, &keys, `
SELECT key FROM integration_config WHERE integration_id = ?
UNION
SELECT mc.key FROM mapping_config mc JOIN mappings m ON m.id = mc.mapping_id WHERE m.integration_id = ?
ORDER BY key`, cur.ID, cur.ID)
	if err != nil {
		return fmt.Errorf("checking stored config keys: %w", err)
	}
	for _, key := range keys {
		old, _ := cur.Schema.Field(key)
		f, ok := schema.Field(key)
		if !ok || f.Type != old.Type {
			return fmt.Errorf("config key %q has stored values of type %s; remove them before dropping the key or changing its type: %w",
				key, old.Type, ErrInUse)
		}
	}
	return nil
}

// DeleteIntegration removes the integration, its schema, defaults and mappings.
func (s *Store) DeleteIntegration(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx writeTx) error {
		var orgs []string
		if err := sqlx.SelectContext(ctx, tx, &orgs, `
SELECT m.org_id FROM mappings m JOIN integrations i ON i.id = m.integration_id WHERE i.name = ? ORDER BY m.org_id`, name); err != nil {
			return translate(err, fmt.Sprintf("integration %q", name))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM integrations WHERE name = ?`, name)
		if err != nil {
			return translate(err, fmt.Sprintf("integration %q", name))
		}
		if err := requireAffected(res, fmt.Sprintf("integration %q", name)); err != nil {
			return err
		}
		// Each organization whose mapping went with the integration hears of it.
		events := make([]Event, 0, len(orgs)+1)
		for _, org := range orgs {
			events = append(events, Event{Type: EventMappingDeleted, OrgID: org, Integration: name, Reason: "integration deleted"})
		}
		return s.recordEvent(ctx, tx, append(events, Event{Type: EventIntegrationDeleted, Integration: name})...)
	})
}

func requireAffected(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
