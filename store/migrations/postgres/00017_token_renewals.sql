-- +goose Up
-- A third write counter: a refresh that rewrites a token in place (and bumps
-- its version) advances tokens instead of value, so that the renewal of one
-- organization's token does not make every cached read of every other
-- organization stale; a cached read checks only its own token's version when
-- tokens has moved. The counters become 64-bit: a 32-bit one runs out after
-- two billion writes, months for a busy service.
ALTER TABLE generation ADD COLUMN tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE generation ALTER COLUMN value TYPE BIGINT;
ALTER TABLE generation ALTER COLUMN definitions TYPE BIGINT;

-- +goose Down
ALTER TABLE generation ALTER COLUMN definitions TYPE INTEGER;
ALTER TABLE generation ALTER COLUMN value TYPE INTEGER;
ALTER TABLE generation DROP COLUMN tokens;
