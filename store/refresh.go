package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/oauth/schedule"
)

// ErrLeaseLost is returned when a refresh result cannot be written because the
// lease expired and was taken, or the token changed (a newer version) meanwhile.
var ErrLeaseLost = errors.New("refresh lease lost or token changed")

// TokenWithSecrets returns a token with its access and refresh token decrypted.
func (s *Store) TokenWithSecrets(ctx context.Context, id string) (Token, error) {
	return s.getToken(ctx, s.reader(), id, true)
}

// ConnectionByID returns the connection with the given ID, secret decrypted.
func (s *Store) ConnectionByID(ctx context.Context, id string) (Connection, error) {
	return s.getConnectionByID(ctx, s.reader(), id)
}

// AcquireLease claims the token's refresh for owner until until, if no other
// owner holds an unexpired claim. It reports whether owner now holds it.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, until time.Time) (bool, error) {
	var acquired bool
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE oauth_tokens SET lease_owner = ?, lease_until = ?
WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)`,
			owner, until.UTC(), id, owner, s.timestamp())
		if err != nil {
			return fmt.Errorf("acquiring refresh lease: %w", err)
		}
		n, err := res.RowsAffected()
		acquired = n == 1
		return err
	})
	return acquired, err
}

// ReleaseLease gives up owner's claim, if it still holds it.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		_, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?`, id, owner)
		if err != nil {
			return fmt.Errorf("releasing refresh lease: %w", err)
		}
		return nil
	})
}

// Refreshed is what a provider returned for a refresh.
type Refreshed struct {
	AccessToken string
	// RefreshToken is the rotated refresh token; empty keeps the stored one.
	RefreshToken string
	TokenType    string
	ExpiresAt    *time.Time
	Scopes       []string
}

// StoreRefreshed writes a refresh result in one statement: new access token,
// new (or kept) refresh token, expiry, next refresh, CONNECTED, version+1, lease
// released. It only applies while owner holds the lease on version; otherwise
// ErrLeaseLost and nothing is written.
func (s *Store) StoreRefreshed(ctx context.Context, id, owner string, version int64, r Refreshed) (Token, error) {
	var out Token
	err := s.inRenewalTx(ctx, func(tx writeTx) error {
		var row struct {
			ConnectionID string `db:"connection_id"`
			OrgID        string `db:"org_id"`
			HasRefresh   bool   `db:"has_refresh"`
			Status       string `db:"status"`
			Failures     int    `db:"failures"`
		}
		err := sqlx.GetContext(ctx, tx, &row, `
SELECT connection_id, org_id, refresh_token IS NOT NULL AS has_refresh, status, failures FROM oauth_tokens WHERE id = ?`, id)
		if err != nil {
			return translate(err, fmt.Sprintf("oauth token %s", id))
		}
		conn, err := s.getConnectionByID(ctx, tx, row.ConnectionID)
		if err != nil {
			return err
		}
		access, err := s.seal("oauth_tokens", "access_token", id, r.AccessToken)
		if err != nil {
			return err
		}
		refreshSQL, args := "refresh_token", []any{}
		if r.RefreshToken != "" {
			sealed, err := s.seal("oauth_tokens", "refresh_token", id, r.RefreshToken)
			if err != nil {
				return err
			}
			refreshSQL, args = "?", []any{sealed}
		}
		now := s.timestamp()
		refreshable := row.HasRefresh || r.RefreshToken != "" || conn.Flow == FlowClientCredentials
		expires := schedule.Expiry(r.ExpiresAt, refreshable, now)
		tokenType := storable(r.TokenType)
		if tokenType == "" {
			tokenType = "Bearer"
		}
		args = append(args, access, tokenType, nullTime(expires), nullTime(schedule.Token{IssuedAt: &now, ExpiresAt: expires}.NextRefresh(conn.RefreshMargin, refreshable, rand.Float64(), now)), now, now, now)
		scopesSQL := "scopes"
		if len(r.Scopes) > 0 {
			scopesSQL = "?"
			args = append(args, jsonText(r.Scopes))
		}
		args = append(args, id, version, owner)
		res, err := tx.ExecContext(ctx, `
UPDATE oauth_tokens SET refresh_token = `+refreshSQL+`, access_token = ?, token_type = ?, expires_at = ?,
    next_refresh_at = ?, issued_at = ?, last_refreshed_at = ?, updated_at = ?, scopes = `+scopesSQL+`,
    status = 'connected', status_message = '', last_error = '', failures = 0,
    version = version + 1, lease_owner = NULL, lease_until = NULL
WHERE id = ? AND version = ? AND lease_owner = ?`, args...)
		if err != nil {
			return fmt.Errorf("storing refreshed token: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(ErrLeaseLost, err)
		}
		if out, err = s.getToken(ctx, tx, id, true); err != nil {
			return err
		}
		if !wasFailing(row.Status, row.Failures) {
			return nil
		}
		return s.recordEvent(ctx, tx, Event{Type: EventTokenRecovered, OrgID: row.OrgID, Connection: conn.Name, Status: string(TokenConnected), Reason: "refreshed"})
	})
	return out, err
}

// RefreshFailure is what a failed refresh records.
type RefreshFailure struct {
	Status TokenStatus
	// LastError describes the failure without secrets.
	LastError string
	// RetryAt is when to try again; nil never (NEEDS_REAUTH).
	RetryAt *time.Time
}

// RecordRefreshFailure records a failed refresh and releases owner's lease. It
// writes nothing when the token changed meanwhile (a new token was put).
func (s *Store) RecordRefreshFailure(ctx context.Context, id, owner string, version int64, f RefreshFailure) error {
	return s.inTx(ctx, func(tx writeTx) error {
		var before struct {
			OrgID      string `db:"org_id"`
			Status     string `db:"status"`
			Connection string `db:"name"`
		}
		err := sqlx.GetContext(ctx, tx, &before, `
SELECT t.org_id, t.status, c.name FROM oauth_tokens t JOIN oauth_connections c ON c.id = t.connection_id
WHERE t.id = ? AND t.version = ? AND t.lease_owner = ?`, id, version, owner)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("recording refresh failure: %w", err)
		}
		_, err = tx.ExecContext(ctx, `
UPDATE oauth_tokens SET status = ?, status_message = ?, last_error = ?, next_refresh_at = ?,
    failures = failures + 1, updated_at = ?, lease_owner = NULL, lease_until = NULL
WHERE id = ? AND version = ? AND lease_owner = ?`, string(f.Status), storable(f.LastError), storable(f.LastError), nullTime(f.RetryAt), s.timestamp(), id, version, owner)
		if err != nil {
			return fmt.Errorf("recording refresh failure: %w", err)
		}
		if before.Status == string(f.Status) {
			return nil
		}
		event := EventTokenRefreshFailed
		if f.Status == TokenNeedsReauth {
			event = EventTokenNeedsReauth
		}
		return s.recordEvent(ctx, tx, Event{Type: event, OrgID: before.OrgID, Connection: before.Connection, Status: string(f.Status), Reason: f.LastError})
	})
}

// Failures returns how many refreshes of the token failed in a row.
func (s *Store) Failures(ctx context.Context, id string) (int, error) {
	var n int
	if err := sqlx.GetContext(ctx, s.reader(), &n, `SELECT failures FROM oauth_tokens WHERE id = ?`, id); err != nil {
		return 0, translate(err, fmt.Sprintf("oauth token %s", id))
	}
	return n, nil
}

// DueToken is a token the background refresher should renew, the connection
// whose provider it calls, and the version it was listed at.
type DueToken struct {
	ID           string `db:"id"`
	ConnectionID string `db:"connection_id"`
	Version      int64  `db:"version"`
}

// DueTokens returns up to limit tokens the background refresher should renew,
// soonest due first and at most perConnection of one connection (so that one
// provider's backlog never hides the others' due tokens), leaving out the IDs
// in skip (those the caller has taken on already): healthy ones whose next
// refresh comes within ahead, failed ones whose backoff has passed by now,
// none whose lease another process holds. None the provider issued less than
// ahead ago either: a token that lives less than twice ahead would be due
// again as soon as it was renewed, on every pass.
func (s *Store) DueTokens(ctx context.Context, now time.Time, ahead time.Duration, limit, perConnection int, skip []string) ([]DueToken, error) {
	args := []any{now.Add(ahead).UTC(), now.UTC(), now.UTC(), now.Add(-ahead).UTC()}
	skipped := ""
	if len(skip) > 0 {
		skipped = ` AND id NOT IN (?` + strings.Repeat(`, ?`, len(skip)-1) + `)`
		for _, id := range skip {
			args = append(args, id)
		}
	}
	args = append(args, perConnection, limit)
	var due []DueToken
	err := sqlx.SelectContext(ctx, s.reader(), &due, `
SELECT id, connection_id, version FROM (
    SELECT id, connection_id, version, next_refresh_at,
           ROW_NUMBER() OVER (PARTITION BY connection_id ORDER BY next_refresh_at) AS place
    FROM oauth_tokens
    WHERE next_refresh_at IS NOT NULL
      AND ((status = 'connected' AND next_refresh_at <= ?) OR (status = 'refresh_failed' AND next_refresh_at <= ?))
      AND (lease_until IS NULL OR lease_until < ?)
      AND (issued_at IS NULL OR issued_at <= ?)`+skipped+`
) due
WHERE place <= ?
ORDER BY next_refresh_at LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing tokens due for refresh: %w", err)
	}
	return due, nil
}

// ClientCredentialsToken returns the stored token of a client-credentials
// connection for (org, entity), creating an empty, already expired one on first
// need so that the usual refresh path fetches it; never one for an entity
// another organization holds on the connection (a read that resolved the
// entity before its binding changed gets ErrEntityOfAnother).
func (s *Store) ClientCredentialsToken(ctx context.Context, conn Connection, orgID, entityID string) (Token, error) {
	t, err := s.findToken(ctx, s.reader(), conn.ID, orgID, entityID)
	if !errors.Is(err, ErrNotFound) {
		return t, err
	}
	err = s.inTx(ctx, func(tx writeTx) error {
		if err := s.lockConnectionEntities(ctx, tx, conn.ID); err != nil {
			return err
		}
		if err := refuseEntityOfAnother(ctx, tx, conn.ID, orgID, entityID); err != nil {
			return err
		}
		id := newID()
		access, err := s.seal("oauth_tokens", "access_token", id, "")
		if err != nil {
			return err
		}
		now := s.timestamp()
		expired := time.Unix(0, 0).UTC()
		_, err = tx.ExecContext(ctx, `
INSERT INTO oauth_tokens (id, connection_id, org_id, entity_id, access_token, expires_at, status, next_refresh_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, 'connected', ?, ?, ?)
ON CONFLICT (connection_id, org_id, entity_id) DO NOTHING`, id, conn.ID, orgID, entityID, access, expired, expired, now, now)
		if err != nil {
			return translate(err, "oauth token")
		}
		t, err = s.findToken(ctx, tx, conn.ID, orgID, entityID)
		return err
	})
	return t, err
}

// EntityForToken is the entity whose ID fills {entity_id} in the token URL when
// a token is refreshed: the token's own; for a client-credentials token, whose
// entity is part of what it is stored by, that even when empty; else the
// entity its organization is bound to on an integration of the connection
// (a mapping without an entity does not count), else an integration's
// default.
func (s *Store) EntityForToken(ctx context.Context, t Token) (string, error) {
	if t.EntityID != "" {
		return t.EntityID, nil
	}
	var entity string
	err := sqlx.GetContext(ctx, s.reader(), &entity, `
SELECT COALESCE(NULLIF(m.entity_id, ''), i.default_entity_id)
FROM integrations i LEFT JOIN mappings m ON m.integration_id = i.id AND m.org_id = ?
WHERE i.oauth_connection_id = ?
  AND (SELECT c.flow FROM oauth_connections c WHERE c.id = i.oauth_connection_id) <> 'client_credentials'
ORDER BY COALESCE(m.entity_id, '') = '', i.name LIMIT 1`, t.OrgID, t.ConnectionID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("finding the entity of token %s: %w", t.ID, err)
	}
	return entity, nil
}

// ErrEntityOfAnother is returned for a client-credentials token of an entity
// that another organization holds on the token's connection: such a token is
// neither made nor refreshed, and a stored one is deleted.
var ErrEntityOfAnother = errors.New("the entity is bound to another organization")

// heldByAnother reports whether an organization other than orgID holds
// entity on an integration of connectionID.
func heldByAnother(ctx context.Context, q sqlx.QueryerContext, connectionID, orgID, entity string) (bool, error) {
	if entity == "" {
		return false, nil
	}
	var held int
	err := sqlx.GetContext(ctx, q, &held, `
SELECT COUNT(*) FROM mappings m JOIN integrations i ON i.id = m.integration_id
WHERE i.oauth_connection_id = ? AND lower(m.entity_id) = lower(?) AND m.entity_id <> '' AND m.org_id <> ?`, connectionID, entity, orgID)
	if err != nil {
		return false, fmt.Errorf("checking who holds entity %q: %w", entity, err)
	}
	return held > 0, nil
}

// refuseEntityOfAnother fails with ErrEntityOfAnother when another
// organization holds entity on connectionID, for orgID's client-credentials
// token of it.
func refuseEntityOfAnother(ctx context.Context, q sqlx.QueryerContext, connectionID, orgID, entity string) error {
	held, err := heldByAnother(ctx, q, connectionID, orgID, entity)
	if err == nil && held {
		err = fmt.Errorf("client-credentials token of entity %q for organization %q: %w", entity, orgID, ErrEntityOfAnother)
	}
	return err
}

// DropIfEntityOfAnother deletes t, a client-credentials token, when another
// organization now holds its entity, and then returns ErrEntityOfAnother: its
// organization left the entity (a mapping moved, an integration was deleted or
// relinked) while the token was kept, and refreshing it would mint a token of
// the other organization's entity. The check reads; only a token to delete
// costs a write.
func (s *Store) DropIfEntityOfAnother(ctx context.Context, t Token) error {
	refused := refuseEntityOfAnother(ctx, s.reader(), t.ConnectionID, t.OrgID, t.EntityID)
	if !errors.Is(refused, ErrEntityOfAnother) {
		return refused
	}
	if err := s.DeleteToken(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return refused
}
