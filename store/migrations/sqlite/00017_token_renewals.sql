-- +goose Up
-- A third write counter: a refresh that rewrites a token in place (and bumps
-- its version) advances tokens instead of value, so that the renewal of one
-- organization's token does not make every cached read of every other
-- organization stale; a cached read checks only its own token's version when
-- tokens has moved.
ALTER TABLE generation ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE generation DROP COLUMN tokens;
