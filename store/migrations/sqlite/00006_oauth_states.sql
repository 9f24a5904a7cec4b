-- +goose Up
-- Pending authorization-code connects: the state is stored hashed, the PKCE
-- verifier sealed; each is single-use and expires.
CREATE TABLE oauth_states (
    id                     TEXT PRIMARY KEY,
    state_hash             BLOB NOT NULL UNIQUE,
    connection_id          TEXT NOT NULL REFERENCES oauth_connections (id) ON DELETE CASCADE,
    org_id                 TEXT NOT NULL DEFAULT '',
    mapping_integration_id TEXT REFERENCES integrations (id) ON DELETE CASCADE,
    entity_id              TEXT NOT NULL DEFAULT '',
    verifier               BLOB NOT NULL,
    redirect_uri           TEXT NOT NULL,
    created_at             TIMESTAMP NOT NULL,
    expires_at             TIMESTAMP NOT NULL,
    used_at                TIMESTAMP
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

-- +goose Down
DROP TABLE oauth_states;
