package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/bifrost/integrations/config"
)

// Resolved is everything GetIntegration needs, read from one snapshot.
type Resolved struct {
	// OrgID is the organization read for; empty for the global scope.
	OrgID       string
	Integration Integration
	// Mapping is nil for the global scope or an organization without one.
	Mapping *Mapping
	// Connection is nil when the integration has no OAuth connection.
	Connection *Connection
	// Token is nil when the connection has no token for this organization (or,
	// for client credentials, none fetched yet).
	Token *Token
	// EntityID is the external entity: the mapping's, else the integration's
	// default.
	EntityID string
	// Config is the defaults merged with the mapping's overrides, and
	// SecretKeys the keys of it that are secrets: worked out once per read of
	// the database, not once per call served from the cache.
	Config     map[string]any
	SecretKeys []string

	// derived is what callers worked out from this read (see Derived).
	derived sync.Map
}

// Derived returns what derive works out from r for key, worked out once for
// r (callers that ask at the same time may each work it out; one result is
// kept) and kept with r for as long as the store keeps r. A caller keeps
// under its own key type what it would otherwise work out from r on every
// call; what derive returns is shared like r: callers must not modify it.
func (r *Resolved) Derived(key any, derive func() (any, error)) (any, error) {
	if v, ok := r.derived.Load(key); ok {
		return v, nil
	}
	v, err := derive()
	if err != nil {
		return nil, err
	}
	v, _ = r.derived.LoadOrStore(key, v)
	return v, nil
}

// Resolve reads the integration as orgID sees it; orgID empty is the global
// scope. The token is the mapping's own if it names one; else, for a client
// credentials connection, the one fetched for (org, entity); else the
// organization's for the integration's connection, else the global one.
//
// Results are cached until the next tracked write anywhere (Generation.All
// moves), so a repeated read costs no query on SQLite and a share of one read
// of the generation on PostgreSQL. Token renewals move Generation.Tokens
// instead: after one, a cached result costs a query of its own token's
// version, and is read again only if that token was the one renewed. What it
// returns is shared with every caller until then: callers must not modify it.
func (s *Store) Resolve(ctx context.Context, integration, orgID string) (*Resolved, error) {
	g, err := s.Generation(ctx)
	if err != nil {
		return nil, err
	}
	key := "resolve\x00" + integration + "\x00" + orgID
	if v, ok := s.cache.get(key, g.All); ok {
		cached := v.(resolvedAt)
		if cached.resolved.Token == nil || cached.tokens == g.Tokens {
			return cached.resolved, nil
		}
		version, err := s.tokenVersion(ctx, cached.resolved.Token.ID)
		switch {
		case err == nil && version == cached.resolved.Token.Version:
			// Tagged with the Tokens counter read before the version, so a
			// renewal committed in between is checked for again next time.
			s.cache.put(key, g.All, resolvedAt{resolved: cached.resolved, tokens: g.Tokens})
			return cached.resolved, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	r, at, err := s.resolve(ctx, integration, orgID)
	if err != nil {
		return nil, err
	}
	s.cache.put(key, at.All, resolvedAt{resolved: r, tokens: at.Tokens})
	return r, nil
}

// resolvedAt is a cached Resolve: the result, cached under the All counter it
// was read at, and the Tokens counter its token was last known current at.
type resolvedAt struct {
	resolved *Resolved
	tokens   int64
}

// tokenVersion is the version of the token with id: what a renewal bumps.
func (s *Store) tokenVersion(ctx context.Context, id string) (int64, error) {
	var version int64
	if err := sqlx.GetContext(ctx, s.reader(), &version, `SELECT version FROM oauth_tokens WHERE id = ?`, id); err != nil {
		return 0, translate(err, fmt.Sprintf("oauth token %s", id))
	}
	return version, nil
}

// resolve reads what Resolve returns from one snapshot, with the generation
// that snapshot is at.
func (s *Store) resolve(ctx context.Context, integration, orgID string) (_ *Resolved, generation Generation, err error) {
	var r *Resolved
	err = s.inReadTx(ctx, func(tx sqlx.QueryerContext) error {
		r = &Resolved{OrgID: orgID} // a retry starts from nothing
		// The generation read in the snapshot tags what the snapshot holds.
		g, err := readGeneration(ctx, tx)
		if err != nil {
			return err
		}
		generation = g
		if r.Integration, err = s.getIntegration(ctx, tx, integration); err != nil {
			return err
		}
		if orgID != "" {
			if r.Mapping, err = s.mappingOf(ctx, tx, r.Integration.ID, orgID); err != nil {
				return err
			}
		}
		r.EntityID = r.Integration.DefaultEntityID
		r.Config = r.Integration.Defaults
		if r.Mapping != nil {
			r.Config = config.Merge(r.Config, r.Mapping.Config)
			if r.Mapping.EntityID != "" {
				r.EntityID = r.Mapping.EntityID
			}
		}
		r.SecretKeys = r.Integration.Schema.SecretKeys(r.Config)
		if r.Integration.ConnectionID == "" {
			return nil
		}
		conn, err := s.getConnectionByID(ctx, tx, r.Integration.ConnectionID)
		if err != nil {
			return err
		}
		r.Connection = &conn
		r.Token, err = s.chooseToken(ctx, tx, conn, orgID, r.EntityID, r.Mapping)
		return err
	})
	return r, generation, err
}

func (s *Store) mappingOf(ctx context.Context, q sqlx.QueryerContext, integrationID, orgID string) (*Mapping, error) {
	var row mappingRow
	err := sqlx.GetContext(ctx, q, &row, mappingSelect+` WHERE m.integration_id = ? AND m.org_id = ?`, integrationID, orgID)
	if err != nil {
		if err = translate(err, "mapping"); errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	m, err := s.completeMapping(ctx, q, row)
	return &m, err
}

// chooseToken picks the token orgID reads. The mapping's own token counts only
// while it is orgID's or the global one, of the integration's connection, and
// bound to no entity: a link that would hand out another organization's token,
// send a token to a connection that did not issue it, or refresh a
// client-credentials token at an entity the organization may no longer hold,
// is passed over whatever wrote it.
func (s *Store) chooseToken(ctx context.Context, q sqlx.QueryerContext, conn Connection, orgID, entityID string, m *Mapping) (*Token, error) {
	if m != nil && m.OAuthTokenID != "" {
		t, err := s.getToken(ctx, q, m.OAuthTokenID, true)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		case t.ConnectionID == conn.ID && (t.OrgID == orgID || t.OrgID == "") && t.EntityID == "":
			return &t, nil
		}
	}
	type key struct{ org, entity string }
	candidates := []key{{"", ""}}
	switch {
	case conn.Flow == FlowClientCredentials:
		candidates = []key{{orgID, entityID}}
	case orgID != "":
		candidates = []key{{orgID, ""}, {"", ""}}
	}
	for _, c := range candidates {
		t, err := s.findToken(ctx, q, conn.ID, c.org, c.entity)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &t, nil
	}
	return nil, nil
}
