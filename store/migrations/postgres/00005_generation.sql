-- +goose Up
-- One counter that every write of served data increments in its transaction:
-- a replica compares it to decide whether what it cached is still current.
CREATE TABLE generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO generation (id, value) VALUES (1, 0);

-- +goose Down
DROP TABLE generation;
