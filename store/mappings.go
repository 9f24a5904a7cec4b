package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/config"
)

// Mapping ties one organization to an integration: the external entity it maps
// to, its own token and its config overrides.
type Mapping struct {
	ID            string
	IntegrationID string
	OrgID         string
	EntityID      string
	EntityName    string
	OAuthTokenID  string
	// Config holds the organization's overrides, secret values decrypted.
	Config map[string]any
	// SecretKeys names the keys of Config that hold secrets.
	SecretKeys []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

type mappingRow struct {
	ID            string         `db:"id"`
	IntegrationID string         `db:"integration_id"`
	OrgID         string         `db:"org_id"`
	EntityID      string         `db:"entity_id"`
	EntityName    string         `db:"entity_name"`
	OAuthTokenID  sql.NullString `db:"oauth_token_id"`
	CreatedAt     time.Time      `db:"created_at"`
	UpdatedAt     time.Time      `db:"updated_at"`
}

const mappingSelect = `
SELECT m.id, m.integration_id, m.org_id, m.entity_id, m.entity_name, m.oauth_token_id, m.created_at, m.updated_at
FROM mappings m`

// GetMapping returns the mapping of orgID to the integration called integration.
// It is part of what Resolve reads and caches: a workflow that reads its
// mapping and its integration costs one database read between writes.
func (s *Store) GetMapping(ctx context.Context, integration, orgID string) (Mapping, error) {
	r, err := s.Resolve(ctx, integration, orgID)
	if err != nil {
		return Mapping{}, err
	}
	if r.Mapping == nil {
		return Mapping{}, fmt.Errorf("mapping of integration %q for organization %q: %w", integration, orgID, ErrNotFound)
	}
	return *r.Mapping, nil
}

// FindMappingByEntity returns the mapping of the integration to entityID, which
// at most one organization holds (migration 00013); case does not tell
// entities apart.
func (s *Store) FindMappingByEntity(ctx context.Context, integration, entityID string) (Mapping, error) {
	var out Mapping
	err := s.inReadTx(ctx, func(tx sqlx.QueryerContext) error {
		integrationID, err := integrationIDOf(ctx, tx, integration)
		if err != nil {
			return err
		}
		var row mappingRow
		err = sqlx.GetContext(ctx, tx, &row, mappingSelect+` WHERE m.integration_id = ? AND lower(m.entity_id) = lower(?) AND m.entity_id <> ''`, integrationID, entityID)
		if err != nil {
			return translate(err, fmt.Sprintf("mapping of integration %q to entity %q", integration, entityID))
		}
		out, err = s.completeMapping(ctx, tx, row)
		return err
	})
	return out, err
}

func (s *Store) completeMapping(ctx context.Context, q sqlx.QueryerContext, row mappingRow) (Mapping, error) {
	cfg, secretKeys, err := s.loadConfig(ctx, q, mappingConfig, row.ID)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{
		ID:            row.ID,
		IntegrationID: row.IntegrationID,
		OrgID:         row.OrgID,
		EntityID:      row.EntityID,
		EntityName:    row.EntityName,
		OAuthTokenID:  row.OAuthTokenID.String,
		Config:        cfg,
		SecretKeys:    secretKeys,
		CreatedAt:     row.CreatedAt,
		UpdatedAt:     row.UpdatedAt,
	}, nil
}

// ListMappings lists the integration's mappings ordered by organization ID; only
// orgID's when orgID is not empty.
func (s *Store) ListMappings(ctx context.Context, integration, orgID string, page Page) ([]Mapping, error) {
	var out []Mapping
	err := s.inReadTx(ctx, func(tx sqlx.QueryerContext) error {
		integrationID, err := integrationIDOf(ctx, tx, integration)
		if err != nil {
			return err
		}
		var rows []mappingRow
		err = sqlx.SelectContext(ctx, tx, &rows,
			mappingSelect+` WHERE m.integration_id = ? AND (? = '' OR m.org_id = ?) AND m.org_id > ? ORDER BY m.org_id LIMIT ?`,
			integrationID, orgID, orgID, page.After, page.Limit)
		if err != nil {
			return fmt.Errorf("listing mappings: %w", err)
		}
		out = make([]Mapping, 0, len(rows))
		for _, row := range rows {
			m, err := s.completeMapping(ctx, tx, row)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// MappingUpsert is the input of UpsertMapping. Empty strings keep the stored
// value; ConfigPatch sets the keys it gives and removes those given as nil.
type MappingUpsert struct {
	Integration  string
	OrgID        string
	EntityID     string
	EntityName   string
	OAuthTokenID string
	ConfigPatch  map[string]any
	// ByOrgKey says the write comes from a key bound to OrgID alone. Such a
	// key binds OrgID to an entity only where the integration lets workers
	// bind entities, and never names the global token: it may point a
	// mapping at nothing it could not read as OrgID.
	ByOrgKey bool
}

// UpsertMapping creates or updates the organization's mapping in one transaction.
// The patched config is checked against the schema, and the merged config must
// hold every required key. An entity bound to another organization of the
// integration is refused (ErrAlreadyExists) by the database's unique index.
func (s *Store) UpsertMapping(ctx context.Context, u MappingUpsert) (Mapping, error) {
	return retryCreateRace(func() (Mapping, error) { return s.upsertMapping(ctx, u) })
}

func (s *Store) upsertMapping(ctx context.Context, u MappingUpsert) (Mapping, error) {
	var out Mapping
	err := s.inTx(ctx, func(tx writeTx) error {
		var err error
		out, err = s.upsertMappingTx(ctx, tx, u)
		return err
	})
	return out, err
}

// upsertMappingTx is UpsertMapping inside tx, for writes that change a mapping
// along with other rows (connecting an account links its token).
func (s *Store) upsertMappingTx(ctx context.Context, tx writeTx, u MappingUpsert) (Mapping, error) {
	in, err := s.integrationInTx(ctx, tx, u.Integration)
	if err != nil {
		return Mapping{}, err
	}
	if err := in.Schema.ValidatePatch(u.ConfigPatch); err != nil {
		return Mapping{}, err
	}
	if u.OAuthTokenID != "" {
		if err := checkTokenFits(ctx, tx, in, u); err != nil {
			return Mapping{}, err
		}
	}
	var row mappingRow
	err = sqlx.GetContext(ctx, tx, &row, mappingSelect+` WHERE m.integration_id = ? AND m.org_id = ?`, in.ID, u.OrgID)
	now := s.timestamp()
	switch {
	case errors.Is(err, sql.ErrNoRows):
		row = mappingRow{ID: newID(), IntegrationID: in.ID, OrgID: u.OrgID, CreatedAt: now}
	case err != nil:
		return Mapping{}, fmt.Errorf("looking up mapping: %w", err)
	}
	if u.EntityID != "" && !strings.EqualFold(u.EntityID, row.EntityID) {
		if err := s.checkEntityFree(ctx, tx, in, u); err != nil {
			return Mapping{}, err
		}
		if err := releaseEntity(ctx, tx, in.ConnectionID, u.OrgID, row.EntityID, row.ID); err != nil {
			return Mapping{}, err
		}
	}
	row.EntityID = keepIfEmpty(u.EntityID, row.EntityID)
	row.EntityName = keepIfEmpty(u.EntityName, row.EntityName)
	if u.OAuthTokenID != "" {
		row.OAuthTokenID = sql.NullString{String: u.OAuthTokenID, Valid: true}
	}
	_, err = tx.ExecContext(ctx, `
INSERT INTO mappings (id, integration_id, org_id, entity_id, entity_name, oauth_token_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET entity_id = excluded.entity_id, entity_name = excluded.entity_name,
    oauth_token_id = excluded.oauth_token_id, updated_at = excluded.updated_at`,
		row.ID, row.IntegrationID, row.OrgID, row.EntityID, row.EntityName, row.OAuthTokenID, row.CreatedAt, now)
	if err != nil {
		return Mapping{}, translate(err, fmt.Sprintf("entity %q of integration %q is bound to another organization", row.EntityID, in.Name))
	}
	if err := s.patchConfig(ctx, tx, mappingConfig, row.ID, in.Schema, u.ConfigPatch); err != nil {
		return Mapping{}, err
	}
	row.UpdatedAt = now
	out, err := s.completeMapping(ctx, tx, row)
	if err != nil {
		return Mapping{}, err
	}
	if missing := in.Schema.MissingRequired(config.Merge(in.Defaults, out.Config)); len(missing) > 0 {
		return Mapping{}, &config.FieldError{Key: missing[0], Reason: "is required and has no default"}
	}
	reason := "updated"
	if row.CreatedAt.Equal(now) {
		reason = "created"
	}
	return out, s.recordEvent(ctx, tx, Event{Type: EventMappingUpserted, OrgID: u.OrgID, Integration: in.Name, Reason: reason})
}

// checkTokenFits refuses a token the mapping u writes may not name: one of
// another connection than the integration's, or of another organization (the
// global token only for a key not bound to one). Another organization's token
// is answered as one that does not exist: a token ID is an identifier, not a
// credential, and knowing one must tell nothing.
func checkTokenFits(ctx context.Context, tx writeTx, in Integration, u MappingUpsert) error {
	var t struct {
		ConnectionID string `db:"connection_id"`
		OrgID        string `db:"org_id"`
		EntityID     string `db:"entity_id"`
	}
	err := sqlx.GetContext(ctx, tx, &t, `SELECT connection_id, org_id, entity_id FROM oauth_tokens WHERE id = ?`, u.OAuthTokenID)
	if err == nil && t.OrgID != u.OrgID && (t.OrgID != "" || u.ByOrgKey) {
		err = sql.ErrNoRows
	}
	if err != nil {
		return translate(err, fmt.Sprintf("oauth token %s of organization %q", u.OAuthTokenID, u.OrgID))
	}
	switch {
	case t.ConnectionID != in.ConnectionID:
		return fmt.Errorf("oauth token %s belongs to another connection than integration %q's: %w", u.OAuthTokenID, in.Name, ErrInvalid)
	case t.EntityID != "":
		return fmt.Errorf("oauth token %s is a client-credentials token of one entity, chosen by the mapping's entity, not named: %w", u.OAuthTokenID, ErrInvalid)
	}
	return nil
}

// checkEntityFree refuses to bind u's organization to an entity it may not
// take: any new binding by a key bound to one organization where the
// integration does not let workers bind; a default entity of the integration
// or of any integration on its connection, which every organization without
// an entity of its own reads; and an entity another organization holds on any
// integration of the same connection, whose tokens are the connection's (the
// unique index covers one integration). On PostgreSQL the check holds a
// transaction lock per connection, so two bindings on sibling integrations
// cannot both pass it.
func (s *Store) checkEntityFree(ctx context.Context, tx writeTx, in Integration, u MappingUpsert) error {
	if u.ByOrgKey && !in.WorkersBindEntities {
		return fmt.Errorf("integration %q lets only admins bind an organization to an external entity: %w", in.Name, ErrForbidden)
	}
	if strings.EqualFold(u.EntityID, in.DefaultEntityID) {
		return fmt.Errorf("entity %q is integration %q's default, shared by organizations without their own: %w", u.EntityID, in.Name, ErrInvalid)
	}
	if in.ConnectionID == "" {
		return nil
	}
	if err := s.lockConnectionEntities(ctx, tx, in.ConnectionID); err != nil {
		return err
	}
	switch held, err := heldByAnother(ctx, tx, in.ConnectionID, u.OrgID, u.EntityID); {
	case err != nil:
		return err
	case held:
		return fmt.Errorf("entity %q of integration %q is bound to another organization: %w", u.EntityID, in.Name, ErrAlreadyExists)
	}
	var defaults int
	err := sqlx.GetContext(ctx, tx, &defaults, `SELECT COUNT(*) FROM integrations WHERE oauth_connection_id = ? AND lower(default_entity_id) = lower(?)`,
		in.ConnectionID, u.EntityID)
	switch {
	case err != nil:
		return fmt.Errorf("checking the default entities of connection %q: %w", in.ConnectionName, err)
	case defaults > 0:
		return fmt.Errorf("entity %q is a default entity of connection %q, shared by organizations without their own: %w", u.EntityID, in.ConnectionName, ErrInvalid)
	}
	return nil
}

// lockConnectionEntities serializes, until tx ends, the transactions that
// bind entities on connectionID or link integrations to it. SQLite runs one
// write transaction at a time already; PostgreSQL's read committed
// transactions would each pass a check the other is about to break.
func (s *Store) lockConnectionEntities(ctx context.Context, tx writeTx, connectionID string) error {
	if s.write.DriverName() != "pgx" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "entities of connection "+connectionID); err != nil {
		return fmt.Errorf("locking the entities of connection %s: %w", connectionID, err)
	}
	return nil
}

// heldEntityConflicts lists the entities the integration's mappings hold that
// another organization holds, or that are a default entity, on connectionID:
// what linking the integration to that connection would give away.
func (s *Store) heldEntityConflicts(ctx context.Context, tx writeTx, integrationID, connectionID string) ([]string, error) {
	if err := s.lockConnectionEntities(ctx, tx, connectionID); err != nil {
		return nil, err
	}
	var entities []string
	err := sqlx.SelectContext(ctx, tx, &entities, `
SELECT DISTINCT m.entity_id FROM mappings m
WHERE m.integration_id = ? AND m.entity_id <> '' AND (
  EXISTS (SELECT 1 FROM mappings o JOIN integrations oi ON oi.id = o.integration_id
          WHERE oi.oauth_connection_id = ? AND o.integration_id <> m.integration_id AND o.entity_id <> ''
            AND lower(o.entity_id) = lower(m.entity_id) AND o.org_id <> m.org_id)
  OR EXISTS (SELECT 1 FROM integrations di WHERE di.oauth_connection_id = ? AND lower(di.default_entity_id) = lower(m.entity_id)))
ORDER BY m.entity_id`, integrationID, connectionID, connectionID)
	if err != nil {
		return nil, fmt.Errorf("checking the entities integration %s holds: %w", integrationID, err)
	}
	return entities, nil
}

// releaseEntity deletes orgID's client-credentials tokens for entity on
// connectionID once no other mapping of orgID on the connection (than
// mappingID) holds it: a token minted for an entity the organization left
// would go on being refreshed for it, perhaps as another organization's.
func releaseEntity(ctx context.Context, tx writeTx, connectionID, orgID, entity, mappingID string) error {
	if connectionID == "" || entity == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
DELETE FROM oauth_tokens
WHERE connection_id = ? AND org_id = ? AND lower(entity_id) = lower(?) AND entity_id <> ''
  AND NOT EXISTS (
    SELECT 1 FROM mappings m JOIN integrations i ON i.id = m.integration_id
    WHERE i.oauth_connection_id = ? AND m.org_id = ? AND lower(m.entity_id) = lower(?) AND m.entity_id <> '' AND m.id <> ?)`,
		connectionID, orgID, entity, connectionID, orgID, entity, mappingID)
	if err != nil {
		return fmt.Errorf("releasing the tokens of entity %q: %w", entity, err)
	}
	return nil
}

func keepIfEmpty(v, stored string) string {
	if v == "" {
		return stored
	}
	return v
}

// DeleteMapping removes the organization's mapping and its overrides; false when
// there was none.
func (s *Store) DeleteMapping(ctx context.Context, integration, orgID string) (bool, error) {
	var deleted bool
	err := s.inTx(ctx, func(tx writeTx) error {
		deleted = false // a run that was rolled back may have set it
		integrationID, err := integrationIDOf(ctx, tx, integration)
		if err != nil {
			return err
		}
		var m struct {
			ID           string         `db:"id"`
			EntityID     string         `db:"entity_id"`
			ConnectionID sql.NullString `db:"oauth_connection_id"`
		}
		err = sqlx.GetContext(ctx, tx, &m, `
SELECT m.id, m.entity_id, i.oauth_connection_id FROM mappings m JOIN integrations i ON i.id = m.integration_id
WHERE m.integration_id = ? AND m.org_id = ?`, integrationID, orgID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up mapping: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mappings WHERE id = ?`, m.ID); err != nil {
			return fmt.Errorf("deleting mapping: %w", err)
		}
		deleted = true
		if err := releaseEntity(ctx, tx, m.ConnectionID.String, orgID, m.EntityID, m.ID); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventMappingDeleted, OrgID: orgID, Integration: integration})
	})
	return deleted, err
}
