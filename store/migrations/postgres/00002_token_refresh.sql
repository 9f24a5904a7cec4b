-- +goose Up
-- A refresh lease: the process (owner) that refreshes a token holds it until
-- lease_until, so replicas never refresh one token twice.
ALTER TABLE oauth_tokens ADD COLUMN lease_owner TEXT;
ALTER TABLE oauth_tokens ADD COLUMN lease_until TIMESTAMPTZ;
-- Consecutive failed refreshes, for exponential backoff.
ALTER TABLE oauth_tokens ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
-- Extra form parameters for token requests, a JSON object of strings.
ALTER TABLE oauth_connections ADD COLUMN token_params TEXT NOT NULL DEFAULT '{}';
CREATE INDEX oauth_tokens_next_refresh_at ON oauth_tokens (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

-- +goose Down
DROP INDEX oauth_tokens_next_refresh_at;
ALTER TABLE oauth_connections DROP COLUMN token_params;
ALTER TABLE oauth_tokens DROP COLUMN failures;
ALTER TABLE oauth_tokens DROP COLUMN lease_until;
ALTER TABLE oauth_tokens DROP COLUMN lease_owner;
