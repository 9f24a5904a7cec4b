-- +goose Up
-- A third write counter: a refresh that rewrites a token in place (and bumps
-- its version) advances tokens instead of value, so that the renewal of one
-- organization's token does not make every cached read of every other
-- organization stale; a cached read checks only its own token's version when
-- tokens has moved.
--
-- value and definitions keep their type: replicas of the previous version,
-- still running during a rolling deployment, have their generation query
-- prepared, and PostgreSQL refuses a prepared statement whose result type a
-- migration changed ("cached plan must not change result type") on every
-- execution, so every call they serve would fail until restarted. Widening
-- them needs a deployment that stops every older replica first.
ALTER TABLE generation ADD COLUMN tokens BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE generation DROP COLUMN tokens;
