-- +goose Up
-- Data keys seal the secret columns; each is stored wrapped (sealed) by the
-- master key, which never enters the database. Exactly one is current.
CREATE TABLE data_keys (
    id            INTEGER PRIMARY KEY,
    wrapped       BYTEA NOT NULL,
    current       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    superseded_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX data_keys_one_current ON data_keys (current) WHERE current;

-- +goose Down
DROP TABLE data_keys;
