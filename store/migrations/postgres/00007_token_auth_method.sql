-- +goose Up
-- How the client authenticates at the token endpoint (RFC 6749 section 2.3.1):
-- client_secret_basic (HTTP Basic, the default every server must support) or
-- client_secret_post (client_id and client_secret in the form body).
ALTER TABLE oauth_connections ADD COLUMN token_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';

-- +goose Down
ALTER TABLE oauth_connections DROP COLUMN token_auth_method;
