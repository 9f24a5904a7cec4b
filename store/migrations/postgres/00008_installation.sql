-- +goose Up
-- One row once the installation has its first admin key: replicas starting
-- together on an empty database race to insert it, and exactly one wins.
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO installation (id, created_at) SELECT 1, MIN(created_at) FROM api_keys HAVING COUNT(*) > 0;

-- +goose Down
DROP TABLE installation;
