package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuthState is a pending authorization-code connect.
type AuthState struct {
	StateHash      []byte
	ConnectionName string
	OrgID          string
	// MappingIntegration names the integration whose mapping of OrgID gets the
	// token as its own; empty for none.
	MappingIntegration string
	EntityID           string
	Verifier           string // PKCE code verifier, decrypted
	RedirectURI        string
	ExpiresAt          time.Time
}

// Reasons ConsumeAuthState refuses a state, wrapped around ErrInvalid.
var (
	ErrStateUnknown = errors.New("unknown state")
	ErrStateUsed    = errors.New("state already used")
	ErrStateExpired = errors.New("state expired")
)

// CreateAuthState stores a pending connect; the verifier is sealed.
func (s *Store) CreateAuthState(ctx context.Context, a AuthState) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		conn, err := s.getConnection(ctx, tx, a.ConnectionName)
		if err != nil {
			return err
		}
		var integrationID sql.NullString
		if a.MappingIntegration != "" {
			id, err := integrationIDOf(ctx, tx, a.MappingIntegration)
			if err != nil {
				return err
			}
			integrationID = sql.NullString{String: id, Valid: true}
		}
		id := newID()
		verifier, err := s.seal("oauth_states", "verifier", id, a.Verifier)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
INSERT INTO oauth_states (id, state_hash, connection_id, org_id, mapping_integration_id, entity_id, verifier, redirect_uri, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, a.StateHash, conn.ID, a.OrgID, integrationID, a.EntityID, verifier, a.RedirectURI, s.timestamp(), a.ExpiresAt.UTC())
		return translate(err, "authorization state")
	})
}

// ConsumeAuthState marks a state used and returns it: each state works once,
// even when what follows fails. Unknown, used and expired states are refused
// with ErrInvalid wrapping the reason; for a used or expired one it also
// returns whom the state was for (without its verifier), so that the refusal
// can be recorded.
func (s *Store) ConsumeAuthState(ctx context.Context, stateHash []byte) (AuthState, error) {
	var out AuthState
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		var row struct {
			ID          string         `db:"id"`
			Connection  string         `db:"connection"`
			OrgID       string         `db:"org_id"`
			Integration sql.NullString `db:"integration"`
			EntityID    string         `db:"entity_id"`
			Verifier    []byte         `db:"verifier"`
			RedirectURI string         `db:"redirect_uri"`
			ExpiresAt   time.Time      `db:"expires_at"`
			UsedAt      sql.NullTime   `db:"used_at"`
		}
		err := sqlx.GetContext(ctx, tx, &row, `
SELECT st.id, c.name AS connection, st.org_id, i.name AS integration, st.entity_id, st.verifier, st.redirect_uri, st.expires_at, st.used_at
FROM oauth_states st JOIN oauth_connections c ON c.id = st.connection_id
LEFT JOIN integrations i ON i.id = st.mapping_integration_id
WHERE st.state_hash = ?`, stateHash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: %w", ErrInvalid, ErrStateUnknown)
		case err != nil:
			return fmt.Errorf("looking up state: %w", err)
		}
		out = AuthState{StateHash: stateHash, ConnectionName: row.Connection, OrgID: row.OrgID, MappingIntegration: row.Integration.String,
			EntityID: row.EntityID, RedirectURI: row.RedirectURI, ExpiresAt: row.ExpiresAt}
		if row.UsedAt.Valid {
			return fmt.Errorf("%w: %w", ErrInvalid, ErrStateUsed)
		}
		now := s.timestamp()
		if !now.Before(row.ExpiresAt) {
			return fmt.Errorf("%w: %w", ErrInvalid, ErrStateExpired)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET used_at = ? WHERE id = ?`, now, row.ID); err != nil {
			return fmt.Errorf("consuming state: %w", err)
		}
		out.Verifier, err = s.open("oauth_states", "verifier", row.ID, row.Verifier)
		return err
	})
	return out, err
}

// PruneAuthStates deletes states that expired before before.
func (s *Store) PruneAuthStates(ctx context.Context, before time.Time) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, before.UTC())
		return err
	})
}
