package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/oauth/schedule"
)

// TokenStatus is the state of a stored token.
type TokenStatus string

const (
	TokenConnected     TokenStatus = "connected"
	TokenRefreshFailed TokenStatus = "refresh_failed"
	TokenNeedsReauth   TokenStatus = "needs_reauth"
)

// Token is an OAuth token stored for a connection, for the global scope (OrgID
// empty) or one organization.
type Token struct {
	ID             string
	ConnectionID   string
	ConnectionName string
	OrgID          string
	EntityID       string
	// AccessToken and RefreshToken are decrypted, or empty where a listing left
	// them sealed.
	AccessToken     string
	RefreshToken    string
	HasRefreshToken bool
	TokenType       string
	Scopes          []string
	ExpiresAt       *time.Time
	// IssuedAt is when the provider issued the access token, where the service
	// knows it (it exchanged or refreshed the token itself); nil for a token put
	// by hand.
	IssuedAt        *time.Time
	Status          TokenStatus
	StatusMessage   string
	Version         int64
	LastRefreshedAt *time.Time
	NextRefreshAt   *time.Time
	LastError       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// FromSignIn, given to PutToken, says the token comes from a person's
	// sign-in (the authorization-code flow), not from an admin's hand: it
	// decides the event the put is recorded as.
	FromSignIn bool
}

// Schedule is what t's refresh schedule depends on.
func (t Token) Schedule() schedule.Token {
	return schedule.Token{IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}
}

type tokenRow struct {
	ID              string       `db:"id"`
	ConnectionID    string       `db:"connection_id"`
	ConnectionName  string       `db:"connection_name"`
	OrgID           string       `db:"org_id"`
	EntityID        string       `db:"entity_id"`
	AccessToken     []byte       `db:"access_token"`
	RefreshToken    []byte       `db:"refresh_token"`
	TokenType       string       `db:"token_type"`
	Scopes          string       `db:"scopes"`
	ExpiresAt       sql.NullTime `db:"expires_at"`
	IssuedAt        sql.NullTime `db:"issued_at"`
	Status          string       `db:"status"`
	StatusMessage   string       `db:"status_message"`
	Version         int64        `db:"version"`
	LastRefreshedAt sql.NullTime `db:"last_refreshed_at"`
	NextRefreshAt   sql.NullTime `db:"next_refresh_at"`
	LastError       string       `db:"last_error"`
	CreatedAt       time.Time    `db:"created_at"`
	UpdatedAt       time.Time    `db:"updated_at"`
}

// connection_name: a subquery, not a JOIN, as in integrationSelect.
const tokenSelect = `
SELECT t.id, t.connection_id, (SELECT c.name FROM oauth_connections c WHERE c.id = t.connection_id) AS connection_name,
       t.org_id, t.entity_id, t.access_token,
       t.refresh_token, t.token_type, t.scopes, t.expires_at, t.issued_at, t.status, t.status_message, t.version,
       t.last_refreshed_at, t.next_refresh_at, t.last_error, t.created_at, t.updated_at
FROM oauth_tokens t`

// PutToken stores a token for (connection, org, entity), replacing the one there
// before in place (so mappings that name it keep it) and bumping its version. The
// token becomes CONNECTED, and automatic refresh starts again. With
// linkIntegration, the org's mapping of that integration (created if needed)
// names the token as its own, in the same transaction.
func (s *Store) PutToken(ctx context.Context, t Token, linkIntegration ...string) (Token, error) {
	return retryCreateRace(func() (Token, error) { return s.putToken(ctx, t, linkIntegration, nil) })
}

// putToken is PutToken; also, when not nil, runs in its transaction once the
// token is stored under tokenID (a connect settles its state there).
func (s *Store) putToken(ctx context.Context, t Token, linkIntegration []string, also func(tx writeTx, tokenID string) error) (Token, error) {
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	var out Token
	err := s.inTx(ctx, func(tx writeTx) error {
		conn, err := s.getConnection(ctx, tx, t.ConnectionName)
		if err != nil {
			return err
		}
		if conn.Flow == FlowClientCredentials {
			return fmt.Errorf("oauth connection %q uses client credentials: the service fetches its tokens itself: %w", conn.Name, ErrInvalid)
		}
		var existing struct {
			ID       string `db:"id"`
			Status   string `db:"status"`
			Failures int    `db:"failures"`
		}
		err = sqlx.GetContext(ctx, tx, &existing,
			`SELECT id, status, failures FROM oauth_tokens WHERE connection_id = ? AND org_id = ? AND entity_id = ?`, conn.ID, t.OrgID, t.EntityID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			existing.ID = newID()
		case err != nil:
			return fmt.Errorf("looking up token: %w", err)
		}
		id := existing.ID
		access, err := s.seal("oauth_tokens", "access_token", id, t.AccessToken)
		if err != nil {
			return err
		}
		refresh, err := s.sealOptional("oauth_tokens", "refresh_token", id, t.RefreshToken)
		if err != nil {
			return err
		}
		now := s.timestamp()
		refreshable := t.RefreshToken != "" || conn.Flow == FlowClientCredentials
		expires := schedule.Expiry(t.ExpiresAt, refreshable, now)
		_, err = tx.ExecContext(ctx, `
INSERT INTO oauth_tokens (id, connection_id, org_id, entity_id, access_token, refresh_token, token_type,
       scopes, expires_at, issued_at, status, status_message, version, last_error, next_refresh_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 1, '', ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    access_token = excluded.access_token, refresh_token = excluded.refresh_token,
    token_type = excluded.token_type, scopes = excluded.scopes, expires_at = excluded.expires_at, issued_at = excluded.issued_at,
    status = excluded.status, status_message = '', last_error = '', next_refresh_at = excluded.next_refresh_at,
    failures = 0, lease_owner = NULL, lease_until = NULL,
    version = oauth_tokens.version + 1, updated_at = excluded.updated_at`,
			id, conn.ID, t.OrgID, t.EntityID, access, refresh, storable(t.TokenType), jsonText(nonNil(t.Scopes)),
			nullTime(expires), nullTime(t.IssuedAt), string(TokenConnected), nullTime(schedule.Token{IssuedAt: t.IssuedAt, ExpiresAt: expires}.NextRefresh(conn.RefreshMargin, refreshable, rand.Float64(), now)), now, now)
		if err != nil {
			return translate(err, "oauth token")
		}
		for _, integration := range linkIntegration {
			if t.OrgID == "" {
				return fmt.Errorf("a global token cannot be linked to a mapping: %w", ErrInvalid)
			}
			if _, err := s.upsertMappingTx(ctx, tx, MappingUpsert{Integration: integration, OrgID: t.OrgID, OAuthTokenID: id}); err != nil {
				return err
			}
		}
		if also != nil {
			if err := also(tx, id); err != nil {
				return err
			}
		}
		if out, err = s.getToken(ctx, tx, id, true); err != nil {
			return err
		}
		event := Event{Type: EventTokenPut, OrgID: t.OrgID, Connection: conn.Name, Status: string(TokenConnected), Reason: "put by an admin"}
		if t.FromSignIn {
			event.Type, event.Reason = EventTokenConnected, "signed in"
		}
		if wasFailing(existing.Status, existing.Failures) {
			event.Type = EventTokenRecovered
		}
		return s.recordEvent(ctx, tx, event)
	})
	return out, err
}

// wasFailing says whether a token of this status and count of failed
// refreshes in a row was failing: its next success is a recovery. A failed
// token whose connection was updated is connected again, but still failing
// until a refresh succeeds.
func wasFailing(status string, failures int) bool {
	return (status != "" && status != string(TokenConnected)) || failures > 0
}

// GetToken returns a token without its secrets.
func (s *Store) GetToken(ctx context.Context, id string) (Token, error) {
	return s.getToken(ctx, s.reader(), id, false)
}

func (s *Store) getToken(ctx context.Context, q sqlx.QueryerContext, id string, withSecrets bool) (Token, error) {
	var row tokenRow
	if err := sqlx.GetContext(ctx, q, &row, tokenSelect+` WHERE t.id = ?`, id); err != nil {
		return Token{}, translate(err, fmt.Sprintf("oauth token %s", id))
	}
	return s.tokenFromRow(row, withSecrets)
}

// findToken returns the token of (connection, org, entity) with its secrets, or
// ErrNotFound.
func (s *Store) findToken(ctx context.Context, q sqlx.QueryerContext, connectionID, orgID, entityID string) (Token, error) {
	var row tokenRow
	err := sqlx.GetContext(ctx, q, &row, tokenSelect+` WHERE t.connection_id = ? AND t.org_id = ? AND t.entity_id = ?`,
		connectionID, orgID, entityID)
	if err != nil {
		return Token{}, translate(err, "oauth token")
	}
	return s.tokenFromRow(row, true)
}

func (s *Store) tokenFromRow(row tokenRow, withSecrets bool) (Token, error) {
	var scopes []string
	if err := json.Unmarshal([]byte(row.Scopes), &scopes); err != nil {
		return Token{}, fmt.Errorf("oauth token %s holds invalid scopes: %w", row.ID, err)
	}
	t := Token{
		ID:              row.ID,
		ConnectionID:    row.ConnectionID,
		ConnectionName:  row.ConnectionName,
		OrgID:           row.OrgID,
		EntityID:        row.EntityID,
		HasRefreshToken: row.RefreshToken != nil,
		TokenType:       row.TokenType,
		Scopes:          scopes,
		ExpiresAt:       timePtr(row.ExpiresAt),
		IssuedAt:        timePtr(row.IssuedAt),
		Status:          TokenStatus(row.Status),
		StatusMessage:   row.StatusMessage,
		Version:         row.Version,
		LastRefreshedAt: timePtr(row.LastRefreshedAt),
		NextRefreshAt:   timePtr(row.NextRefreshAt),
		LastError:       row.LastError,
		CreatedAt:       row.CreatedAt,
		UpdatedAt:       row.UpdatedAt,
	}
	if !withSecrets {
		return t, nil
	}
	var err error
	if t.AccessToken, err = s.open("oauth_tokens", "access_token", row.ID, row.AccessToken); err != nil {
		return Token{}, err
	}
	if t.RefreshToken, err = s.openOptional("oauth_tokens", "refresh_token", row.ID, row.RefreshToken); err != nil {
		return Token{}, err
	}
	return t, nil
}

// ListTokens lists tokens without their secrets, ordered by ID (creation order),
// only those of connectionName when it is not empty.
func (s *Store) ListTokens(ctx context.Context, connectionName string, page Page) ([]Token, error) {
	var rows []tokenRow
	err := sqlx.SelectContext(ctx, s.reader(), &rows,
		tokenSelect+` WHERE (? = '' OR t.connection_id = (SELECT id FROM oauth_connections WHERE name = ?)) AND t.id > ? ORDER BY t.id LIMIT ?`,
		connectionName, connectionName, page.After, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing oauth tokens: %w", err)
	}
	out := make([]Token, 0, len(rows))
	for _, row := range rows {
		t, err := s.tokenFromRow(row, false)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteToken removes a token; mappings that named it fall back to the org's or
// the global token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx writeTx) error {
		var t struct {
			OrgID      string `db:"org_id"`
			Connection string `db:"name"`
		}
		err := sqlx.GetContext(ctx, tx, &t, `
SELECT t.org_id, c.name FROM oauth_tokens t JOIN oauth_connections c ON c.id = t.connection_id WHERE t.id = ?`, id)
		if err != nil {
			return translate(err, fmt.Sprintf("oauth token %s", id))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE id = ?`, id); err != nil {
			return translate(err, fmt.Sprintf("oauth token %s", id))
		}
		return s.recordEvent(ctx, tx, Event{Type: EventTokenDisconnected, OrgID: t.OrgID, Connection: t.Connection, Status: TokenDisconnected, Reason: "deleted"})
	})
}
