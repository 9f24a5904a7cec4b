-- +goose Up
CREATE TABLE oauth_connections (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL UNIQUE,
    flow                   TEXT NOT NULL CHECK (flow IN ('authorization_code', 'client_credentials')),
    client_id              TEXT NOT NULL DEFAULT '',
    client_secret          BYTEA,
    authorization_url      TEXT NOT NULL DEFAULT '',
    token_url              TEXT NOT NULL DEFAULT '',
    scopes                 TEXT NOT NULL DEFAULT '[]',
    audience               TEXT NOT NULL DEFAULT '',
    refresh_margin_seconds INTEGER NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);

CREATE TABLE integrations (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    description         TEXT NOT NULL DEFAULT '',
    default_entity_id   TEXT NOT NULL DEFAULT '',
    oauth_connection_id TEXT REFERENCES oauth_connections (id) ON DELETE RESTRICT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX integrations_oauth_connection_id ON integrations (oauth_connection_id);

CREATE TABLE config_fields (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    position       INTEGER NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('string', 'int', 'bool', 'json', 'secret')),
    required       BOOLEAN NOT NULL DEFAULT FALSE,
    description    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (integration_id, key)
);

-- One value per row: a JSON text in value, or a ciphertext in secret for keys
-- typed secret.
CREATE TABLE integration_config (
    id             TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    value          TEXT,
    secret         BYTEA,
    UNIQUE (integration_id, key),
    CHECK ((value IS NULL) <> (secret IS NULL))
);

-- org_id '' is the global token; entity_id '' a token not tied to one entity.
CREATE TABLE oauth_tokens (
    id                TEXT PRIMARY KEY,
    connection_id     TEXT NOT NULL REFERENCES oauth_connections (id) ON DELETE CASCADE,
    org_id            TEXT NOT NULL DEFAULT '',
    entity_id         TEXT NOT NULL DEFAULT '',
    access_token      BYTEA NOT NULL,
    refresh_token     BYTEA,
    token_type        TEXT NOT NULL DEFAULT 'Bearer',
    scopes            TEXT NOT NULL DEFAULT '[]',
    expires_at        TIMESTAMPTZ,
    status            TEXT NOT NULL CHECK (status IN ('connected', 'refresh_failed', 'needs_reauth')),
    status_message    TEXT NOT NULL DEFAULT '',
    version           INTEGER NOT NULL DEFAULT 1,
    last_refreshed_at TIMESTAMPTZ,
    next_refresh_at   TIMESTAMPTZ,
    last_error        TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, org_id, entity_id)
);

CREATE TABLE mappings (
    id             TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    org_id         TEXT NOT NULL,
    entity_id      TEXT NOT NULL DEFAULT '',
    entity_name    TEXT NOT NULL DEFAULT '',
    oauth_token_id TEXT REFERENCES oauth_tokens (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (integration_id, org_id)
);
CREATE INDEX mappings_integration_entity ON mappings (integration_id, entity_id);
CREATE INDEX mappings_oauth_token_id ON mappings (oauth_token_id);

CREATE TABLE mapping_config (
    id         TEXT PRIMARY KEY,
    mapping_id TEXT NOT NULL REFERENCES mappings (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT,
    secret     BYTEA,
    UNIQUE (mapping_id, key),
    CHECK ((value IS NULL) <> (secret IS NULL))
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    key_hash    BYTEA NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'worker', 'worker_all_orgs')),
    org_id      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    CHECK ((role = 'worker') = (org_id <> ''))
);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE mapping_config;
DROP TABLE mappings;
DROP TABLE oauth_tokens;
DROP TABLE integration_config;
DROP TABLE config_fields;
DROP TABLE integrations;
DROP TABLE oauth_connections;
