-- +goose Up
-- A second counter of writes, of definitions only: API keys, connections,
-- integrations with their config schemas and defaults. What is cached from
-- those alone (an API key looked up, the integration a mapping write checks
-- against) stays valid through the frequent writes of mappings and tokens,
-- which move only value. Triggers move it, not the service's code, so that
-- every change of a definition moves it, whoever writes: a code path that
-- forgot, a replica of the previous version during a rolling upgrade, an
-- operator's SQL.
ALTER TABLE generation ADD COLUMN definitions INTEGER NOT NULL DEFAULT 0;
-- +goose StatementBegin
CREATE TRIGGER api_keys_insert_definitions AFTER INSERT ON api_keys
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_update_definitions AFTER UPDATE ON api_keys
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_delete_definitions AFTER DELETE ON api_keys
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_connections_insert_definitions AFTER INSERT ON oauth_connections
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_connections_update_definitions AFTER UPDATE ON oauth_connections
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER oauth_connections_delete_definitions AFTER DELETE ON oauth_connections
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integrations_insert_definitions AFTER INSERT ON integrations
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integrations_update_definitions AFTER UPDATE ON integrations
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integrations_delete_definitions AFTER DELETE ON integrations
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER config_fields_insert_definitions AFTER INSERT ON config_fields
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER config_fields_update_definitions AFTER UPDATE ON config_fields
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER config_fields_delete_definitions AFTER DELETE ON config_fields
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integration_config_insert_definitions AFTER INSERT ON integration_config
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integration_config_update_definitions AFTER UPDATE ON integration_config
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER integration_config_delete_definitions AFTER DELETE ON integration_config
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER api_keys_insert_definitions;
DROP TRIGGER api_keys_update_definitions;
DROP TRIGGER api_keys_delete_definitions;
DROP TRIGGER oauth_connections_insert_definitions;
DROP TRIGGER oauth_connections_update_definitions;
DROP TRIGGER oauth_connections_delete_definitions;
DROP TRIGGER integrations_insert_definitions;
DROP TRIGGER integrations_update_definitions;
DROP TRIGGER integrations_delete_definitions;
DROP TRIGGER config_fields_insert_definitions;
DROP TRIGGER config_fields_update_definitions;
DROP TRIGGER config_fields_delete_definitions;
DROP TRIGGER integration_config_insert_definitions;
DROP TRIGGER integration_config_update_definitions;
DROP TRIGGER integration_config_delete_definitions;
ALTER TABLE generation DROP COLUMN definitions;
