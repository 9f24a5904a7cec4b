-- +goose Up
-- Pending authorization-code connects: the state is stored hashed, the PKCE
-- verifier sealed; each is single-use and expires.
CREATE TABLE oauth_states (
    id                     TEXT PRIMARY KEY,
    state_hash             BYTEA NOT NULL UNIQUE,
    connection_id          TEXT NOT NULL REFERENCES oauth_connections (id) ON DELETE CASCADE,
    org_id                 TEXT NOT NULL DEFAULT '',
    mapping_integration_id TEXT REFERENCES integrations (id) ON DELETE CASCADE,
    entity_id              TEXT NOT NULL DEFAULT '',
    verifier               BYTEA NOT NULL,
    redirect_uri           TEXT NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ NOT NULL,
    used_at                TIMESTAMPTZ
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

-- +goose Down
DROP TABLE oauth_states;
