-- +goose Up
-- What became of each connect, for the admin who started it to read by its
-- state (GetAuthorization): outcome is empty while nobody has come back, else
-- CONNECTED, DENIED or FAILED; detail says why, as the callback page did;
-- token_id is the token a CONNECTED sign-in stored (no foreign key: the state
-- outlives nothing, and a token deleted since does not rewrite history).
-- bind_entity marks a connect for an entity the admin named, which the
-- organization's mapping takes on when it succeeds.
ALTER TABLE oauth_states ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN outcome_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN token_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN finished_at TIMESTAMP;
ALTER TABLE oauth_states ADD COLUMN bind_entity BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE oauth_states DROP COLUMN bind_entity;
ALTER TABLE oauth_states DROP COLUMN finished_at;
ALTER TABLE oauth_states DROP COLUMN token_id;
ALTER TABLE oauth_states DROP COLUMN outcome_detail;
ALTER TABLE oauth_states DROP COLUMN outcome;
