package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/internal/textclip"
)

// AuthState is an authorization-code connect: pending until the callback
// settles it.
type AuthState struct {
	ID             string
	StateHash      []byte
	ConnectionName string
	OrgID          string
	// MappingIntegration names the integration whose mapping of OrgID gets the
	// token as its own; empty for none.
	MappingIntegration string
	// EntityID fills {entity_id} in the connection's URLs. With BindEntity
	// (an entity the admin named), the mapping of MappingIntegration is bound
	// to it when the connect succeeds, so that the token is refreshed where
	// it was issued.
	EntityID    string
	BindEntity  bool
	Verifier    string // PKCE code verifier, decrypted; never read back by AuthStateByHash
	RedirectURI string
	CreatedAt   time.Time
	ExpiresAt   time.Time

	// What became of it (AuthStateByHash): Outcome is AuthPending until the
	// callback settles it; Detail says why it was denied or failed; TokenID
	// is the token a connected one stored.
	Outcome    AuthOutcome
	Detail     string
	TokenID    string
	FinishedAt *time.Time
}

// AuthOutcome is what the callback made of a connect.
type AuthOutcome string

// The outcomes of a connect. One pending past ExpiresAt has expired.
const (
	AuthPending   AuthOutcome = ""
	AuthConnected AuthOutcome = "CONNECTED"
	AuthDenied    AuthOutcome = "DENIED"
	AuthFailed    AuthOutcome = "FAILED"
)

// maxDetailLen bounds an outcome's detail, which may quote a provider.
const maxDetailLen = 300

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
INSERT INTO oauth_states (id, state_hash, connection_id, org_id, mapping_integration_id, entity_id, bind_entity, verifier, redirect_uri, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, a.StateHash, conn.ID, a.OrgID, integrationID, a.EntityID, a.BindEntity, verifier, a.RedirectURI, s.timestamp(), a.ExpiresAt.UTC())
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
			BindEntity  bool           `db:"bind_entity"`
			Verifier    []byte         `db:"verifier"`
			RedirectURI string         `db:"redirect_uri"`
			ExpiresAt   time.Time      `db:"expires_at"`
			UsedAt      sql.NullTime   `db:"used_at"`
		}
		err := sqlx.GetContext(ctx, tx, &row, `
SELECT st.id, c.name AS connection, st.org_id, i.name AS integration, st.entity_id, st.bind_entity, st.verifier, st.redirect_uri, st.expires_at, st.used_at
FROM oauth_states st JOIN oauth_connections c ON c.id = st.connection_id
LEFT JOIN integrations i ON i.id = st.mapping_integration_id
WHERE st.state_hash = ?`, stateHash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: %w", ErrInvalid, ErrStateUnknown)
		case err != nil:
			return fmt.Errorf("looking up state: %w", err)
		}
		out = AuthState{ID: row.ID, StateHash: stateHash, ConnectionName: row.Connection, OrgID: row.OrgID, MappingIntegration: row.Integration.String,
			EntityID: row.EntityID, BindEntity: row.BindEntity, RedirectURI: row.RedirectURI, ExpiresAt: row.ExpiresAt}
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

// CheckEntityFree reports why orgID could not bind its mapping of integration
// to entity, as UpsertMapping by an admin would refuse it (another
// organization holds it, it is a default entity), or nil. It writes nothing:
// a connect for a named entity asks before it sends anyone to sign in.
func (s *Store) CheckEntityFree(ctx context.Context, integration, orgID, entity string) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		in, err := s.integrationInTx(ctx, tx, integration)
		if err != nil {
			return err
		}
		return s.checkEntityFree(ctx, tx, in, MappingUpsert{Integration: integration, OrgID: orgID, EntityID: entity})
	})
}

// ConnectAuthState stores the token a sign-in of st (consumed) produced and
// settles st as CONNECTED with that token, in one transaction: the outcome
// names the token this sign-in stored, whatever else changes the
// organization's token meanwhile. With st.MappingIntegration, the
// organization's mapping of it names the token (and is bound to st.EntityID
// when st.BindEntity).
func (s *Store) ConnectAuthState(ctx context.Context, st AuthState, t Token) (Token, error) {
	return retryCreateRace(func() (Token, error) {
		return s.putToken(ctx, t, nil, func(tx writeTx, tokenID string) error {
			if st.MappingIntegration != "" {
				if t.OrgID == "" {
					return fmt.Errorf("a global token cannot be linked to a mapping: %w", ErrInvalid)
				}
				u := MappingUpsert{Integration: st.MappingIntegration, OrgID: t.OrgID, OAuthTokenID: tokenID}
				if st.BindEntity {
					u.EntityID = st.EntityID
				}
				if _, err := s.upsertMappingTx(ctx, tx, u); err != nil {
					return err
				}
			}
			return settleAuthState(ctx, tx, st.ID, AuthConnected, "", tokenID, s.timestamp())
		})
	})
}

// SettleAuthState records that the connect of st (consumed) was denied or
// failed, and why (clipped, and made storable). A connect is settled once:
// a later call changes nothing.
func (s *Store) SettleAuthState(ctx context.Context, st AuthState, outcome AuthOutcome, detail string) error {
	if outcome != AuthDenied && outcome != AuthFailed {
		return fmt.Errorf("settling a connect as %q: %w", outcome, ErrInvalid)
	}
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		return settleAuthState(ctx, tx, st.ID, outcome, detail, "", s.timestamp())
	})
}

func settleAuthState(ctx context.Context, tx writeTx, id string, outcome AuthOutcome, detail, tokenID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE oauth_states SET outcome = ?, outcome_detail = ?, token_id = ?, finished_at = ? WHERE id = ? AND outcome = ''`,
		string(outcome), storable(textclip.Clip(detail, maxDetailLen)), tokenID, now, id)
	if err != nil {
		return fmt.Errorf("settling state: %w", err)
	}
	return nil
}

// AuthStateByHash returns the connect of a state, with its outcome and
// without its verifier; ErrNotFound for a state never started or pruned.
func (s *Store) AuthStateByHash(ctx context.Context, stateHash []byte) (AuthState, error) {
	var row struct {
		ID          string         `db:"id"`
		Connection  string         `db:"connection"`
		OrgID       string         `db:"org_id"`
		Integration sql.NullString `db:"integration"`
		EntityID    string         `db:"entity_id"`
		BindEntity  bool           `db:"bind_entity"`
		RedirectURI string         `db:"redirect_uri"`
		CreatedAt   time.Time      `db:"created_at"`
		ExpiresAt   time.Time      `db:"expires_at"`
		Outcome     string         `db:"outcome"`
		Detail      string         `db:"outcome_detail"`
		TokenID     string         `db:"token_id"`
		FinishedAt  sql.NullTime   `db:"finished_at"`
	}
	err := sqlx.GetContext(ctx, s.reader(), &row, `
SELECT st.id, c.name AS connection, st.org_id, i.name AS integration, st.entity_id, st.bind_entity, st.redirect_uri,
       st.created_at, st.expires_at, st.outcome, st.outcome_detail, st.token_id, st.finished_at
FROM oauth_states st JOIN oauth_connections c ON c.id = st.connection_id
LEFT JOIN integrations i ON i.id = st.mapping_integration_id
WHERE st.state_hash = ?`, stateHash)
	if err != nil {
		return AuthState{}, translate(err, "authorization state")
	}
	return AuthState{
		ID: row.ID, StateHash: stateHash, ConnectionName: row.Connection, OrgID: row.OrgID, MappingIntegration: row.Integration.String,
		EntityID: row.EntityID, BindEntity: row.BindEntity, RedirectURI: row.RedirectURI, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
		Outcome: AuthOutcome(row.Outcome), Detail: row.Detail, TokenID: row.TokenID, FinishedAt: timePtr(row.FinishedAt),
	}, nil
}

// PruneAuthStates deletes states that expired before before.
func (s *Store) PruneAuthStates(ctx context.Context, before time.Time) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, before.UTC())
		return err
	})
}
