-- +goose Up
-- When the provider issued the current access token, where the service knows it
-- (it exchanged or refreshed the token itself; NULL for a token put by hand):
-- with expires_at it gives the token's lifetime, which bounds its refresh margin
-- (a token that lives less than twice the margin is refreshed at half its life,
-- not on every read).
ALTER TABLE oauth_tokens ADD COLUMN issued_at TIMESTAMP;
UPDATE oauth_tokens SET issued_at = last_refreshed_at WHERE last_refreshed_at = updated_at;

-- +goose Down
ALTER TABLE oauth_tokens DROP COLUMN issued_at;
