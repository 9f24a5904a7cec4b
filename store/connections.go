package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/oauth/schedule"
)

// Flow is how a connection obtains tokens.
type Flow string

const (
	FlowAuthorizationCode Flow = "authorization_code"
	FlowClientCredentials Flow = "client_credentials"
)

// TokenAuthMethod is how the client authenticates at the token endpoint, by
// its OpenID Connect name (token_endpoint_auth_method).
type TokenAuthMethod string

const (
	// AuthClientSecretBasic sends the client credentials as HTTP Basic, which
	// RFC 6749 requires every server to support; the default.
	AuthClientSecretBasic TokenAuthMethod = "client_secret_basic"
	// AuthClientSecretPost sends them in the form body, for providers that
	// accept nothing else.
	AuthClientSecretPost TokenAuthMethod = "client_secret_post"
)

// Connection is an OAuth client registration at one provider.
type Connection struct {
	ID               string
	Name             string
	Flow             Flow
	ClientID         string
	ClientSecret     string // decrypted
	AuthorizationURL string
	TokenURL         string
	Scopes           []string
	Audience         string
	// TokenParams are extra form parameters for token requests.
	TokenParams     map[string]string
	TokenAuthMethod TokenAuthMethod
	RefreshMargin   time.Duration
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

type connectionRow struct {
	ID                   string    `db:"id"`
	Name                 string    `db:"name"`
	Flow                 string    `db:"flow"`
	ClientID             string    `db:"client_id"`
	ClientSecret         []byte    `db:"client_secret"`
	AuthorizationURL     string    `db:"authorization_url"`
	TokenURL             string    `db:"token_url"`
	Scopes               string    `db:"scopes"`
	Audience             string    `db:"audience"`
	TokenParams          string    `db:"token_params"`
	TokenAuthMethod      string    `db:"token_auth_method"`
	RefreshMarginSeconds int64     `db:"refresh_margin_seconds"`
	CreatedAt            time.Time `db:"created_at"`
	UpdatedAt            time.Time `db:"updated_at"`
}

const connectionSelect = `
SELECT id, name, flow, client_id, client_secret, authorization_url, token_url, scopes,
       audience, token_params, token_auth_method, refresh_margin_seconds, created_at, updated_at
FROM oauth_connections`

// CreateConnection stores a new connection, its client secret sealed. Its
// refresh margin is kept as given, zero included (refresh only expired tokens):
// callers that were given none use schedule.DefaultMargin.
func (s *Store) CreateConnection(ctx context.Context, c Connection) (Connection, error) {
	if c.TokenAuthMethod == "" {
		c.TokenAuthMethod = AuthClientSecretBasic
	}
	var out Connection
	err := s.inTx(ctx, func(tx writeTx) error {
		c.ID = newID()
		c.CreatedAt = s.timestamp()
		if err := s.writeConnection(ctx, tx, c, `
INSERT INTO oauth_connections (client_secret, flow, client_id, authorization_url, token_url, scopes,
       audience, token_params, token_auth_method, refresh_margin_seconds, updated_at, name, created_at, id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
			return err
		}
		var err error
		if out, err = s.getConnection(ctx, tx, c.Name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventConnectionCreated, Connection: c.Name})
	})
	return out, err
}

// writeConnection runs an INSERT or UPDATE whose placeholders come in the order
// of the INSERT in CreateConnection; the last three are name, created_at, id.
func (s *Store) writeConnection(ctx context.Context, tx writeTx, c Connection, query string) error {
	secret, err := s.sealOptional("oauth_connections", "client_secret", c.ID, c.ClientSecret)
	if err != nil {
		return err
	}
	params := c.TokenParams
	if params == nil {
		params = map[string]string{}
	}
	_, err = tx.ExecContext(ctx, query, secret, string(c.Flow), c.ClientID, c.AuthorizationURL, c.TokenURL,
		jsonText(nonNil(c.Scopes)), c.Audience, jsonText(params), string(c.TokenAuthMethod), int64(c.RefreshMargin/time.Second), s.timestamp(), c.Name, c.CreatedAt, c.ID)
	return translate(err, fmt.Sprintf("oauth connection %q", c.Name))
}

// GetConnection returns the connection called name, client secret decrypted.
func (s *Store) GetConnection(ctx context.Context, name string) (Connection, error) {
	return s.getConnection(ctx, s.reader(), name)
}

func (s *Store) getConnection(ctx context.Context, q sqlx.QueryerContext, name string) (Connection, error) {
	var row connectionRow
	if err := sqlx.GetContext(ctx, q, &row, connectionSelect+` WHERE name = ?`, name); err != nil {
		return Connection{}, translate(err, fmt.Sprintf("oauth connection %q", name))
	}
	return s.connectionFromRow(row)
}

func (s *Store) getConnectionByID(ctx context.Context, q sqlx.QueryerContext, id string) (Connection, error) {
	var row connectionRow
	if err := sqlx.GetContext(ctx, q, &row, connectionSelect+` WHERE id = ?`, id); err != nil {
		return Connection{}, translate(err, fmt.Sprintf("oauth connection %s", id))
	}
	return s.connectionFromRow(row)
}

func (s *Store) connectionFromRow(row connectionRow) (Connection, error) {
	secret, err := s.openOptional("oauth_connections", "client_secret", row.ID, row.ClientSecret)
	if err != nil {
		return Connection{}, err
	}
	var scopes []string
	if err := json.Unmarshal([]byte(row.Scopes), &scopes); err != nil {
		return Connection{}, fmt.Errorf("oauth connection %q holds invalid scopes: %w", row.Name, err)
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(row.TokenParams), &params); err != nil {
		return Connection{}, fmt.Errorf("oauth connection %q holds invalid token params: %w", row.Name, err)
	}
	return Connection{
		ID:               row.ID,
		Name:             row.Name,
		Flow:             Flow(row.Flow),
		ClientID:         row.ClientID,
		ClientSecret:     secret,
		AuthorizationURL: row.AuthorizationURL,
		TokenURL:         row.TokenURL,
		Scopes:           scopes,
		Audience:         row.Audience,
		TokenParams:      params,
		TokenAuthMethod:  TokenAuthMethod(row.TokenAuthMethod),
		RefreshMargin:    time.Duration(row.RefreshMarginSeconds) * time.Second,
		CreatedAt:        row.CreatedAt,
		UpdatedAt:        row.UpdatedAt,
	}, nil
}

// ListConnections lists connections ordered by name.
func (s *Store) ListConnections(ctx context.Context, page Page) ([]Connection, error) {
	var rows []connectionRow
	if err := sqlx.SelectContext(ctx, s.reader(), &rows, connectionSelect+` WHERE name > ? ORDER BY name LIMIT ?`, page.After, page.Limit); err != nil {
		return nil, fmt.Errorf("listing oauth connections: %w", err)
	}
	out := make([]Connection, 0, len(rows))
	for _, row := range rows {
		c, err := s.connectionFromRow(row)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateConnection lets update change the connection called name and stores the
// result unless update fails; name, ID and creation time cannot change.
func (s *Store) UpdateConnection(ctx context.Context, name string, update func(*Connection) error) (Connection, error) {
	var out Connection
	err := s.inTx(ctx, func(tx writeTx) error {
		c, err := s.getConnection(ctx, tx, name)
		if err != nil {
			return err
		}
		id, created, margin := c.ID, c.CreatedAt, c.RefreshMargin
		if err := update(&c); err != nil {
			return err
		}
		c.ID, c.Name, c.CreatedAt = id, name, created
		if c.RefreshMargin != margin {
			if err := s.rescheduleRefreshes(ctx, tx, c); err != nil {
				return err
			}
		}
		// New client credentials may cure what stopped refreshes: let every failed
		// token of the connection try again now. Its failures stay counted: the
		// refresh that succeeds is the token's recovery (a token.recovered event).
		if _, err := tx.ExecContext(ctx, `
UPDATE oauth_tokens SET status = 'connected', next_refresh_at = ?
WHERE connection_id = ? AND status <> 'connected'`, s.timestamp(), c.ID); err != nil {
			return fmt.Errorf("resetting failed tokens: %w", err)
		}
		if err := s.writeConnection(ctx, tx, c, `
UPDATE oauth_connections SET client_secret = ?, flow = ?, client_id = ?, authorization_url = ?, token_url = ?,
       scopes = ?, audience = ?, token_params = ?, token_auth_method = ?, refresh_margin_seconds = ?, updated_at = ?, name = ?, created_at = ?
WHERE id = ?`); err != nil {
			return err
		}
		if out, err = s.getConnection(ctx, tx, name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, Event{Type: EventConnectionUpdated, Connection: name})
	})
	return out, err
}

// rescheduleRefreshes moves the background's next refresh of c's healthy
// tokens to c's new margin; reads use the connection's margin as it is anyway.
func (s *Store) rescheduleRefreshes(ctx context.Context, tx writeTx, c Connection) error {
	var tokens []struct {
		ID        string       `db:"id"`
		IssuedAt  sql.NullTime `db:"issued_at"`
		ExpiresAt sql.NullTime `db:"expires_at"`
	}
	if err := sqlx.SelectContext(ctx, tx, &tokens, `
SELECT id, issued_at, expires_at FROM oauth_tokens
WHERE connection_id = ? AND status = 'connected' AND next_refresh_at IS NOT NULL AND expires_at IS NOT NULL`, c.ID); err != nil {
		return fmt.Errorf("listing tokens to reschedule: %w", err)
	}
	for _, t := range tokens {
		next := schedule.Token{IssuedAt: timePtr(t.IssuedAt), ExpiresAt: timePtr(t.ExpiresAt)}.NextRefresh(c.RefreshMargin, true, rand.Float64(), s.timestamp())
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET next_refresh_at = ? WHERE id = ?`, nullTime(next), t.ID); err != nil {
			return fmt.Errorf("rescheduling token %s: %w", t.ID, err)
		}
	}
	return nil
}

// DeleteConnection removes the connection and its tokens. It fails with ErrInUse
// while an integration links to it.
func (s *Store) DeleteConnection(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx writeTx) error {
		what := fmt.Sprintf("oauth connection %q", name)
		var users []string
		err := sqlx.SelectContext(ctx, tx, &users, `
SELECT i.name FROM integrations i JOIN oauth_connections c ON c.id = i.oauth_connection_id
WHERE c.name = ? ORDER BY i.name LIMIT 5`, name)
		if err != nil {
			return translate(err, what)
		}
		if len(users) > 0 {
			return fmt.Errorf("%s is linked to integrations %q: %w", what, users, ErrInUse)
		}
		var orgs []string
		if err := sqlx.SelectContext(ctx, tx, &orgs, `
SELECT t.org_id FROM oauth_tokens t JOIN oauth_connections c ON c.id = t.connection_id WHERE c.name = ? ORDER BY t.org_id`, name); err != nil {
			return translate(err, what)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_connections WHERE name = ?`, name)
		if err != nil {
			return translate(err, what)
		}
		if err := requireAffected(res, what); err != nil {
			return err
		}
		// Each organization whose token went with the connection hears of it.
		events := make([]Event, 0, len(orgs)+1)
		for _, org := range orgs {
			events = append(events, Event{Type: EventTokenDisconnected, OrgID: org, Connection: name, Status: TokenDisconnected, Reason: "connection deleted"})
		}
		return s.recordEvent(ctx, tx, append(events, Event{Type: EventConnectionDeleted, Connection: name})...)
	})
}

// connectionIDByName resolves a connection name for a foreign key; an empty name
// is no connection.
func connectionIDByName(ctx context.Context, q sqlx.QueryerContext, name string) (sql.NullString, error) {
	if name == "" {
		return sql.NullString{}, nil
	}
	var id string
	if err := sqlx.GetContext(ctx, q, &id, `SELECT id FROM oauth_connections WHERE name = ?`, name); err != nil {
		return sql.NullString{}, translate(err, fmt.Sprintf("oauth connection %q", name))
	}
	return sql.NullString{String: id, Valid: true}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
