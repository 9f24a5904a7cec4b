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
CREATE FUNCTION advance_definitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER api_keys_definitions AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION advance_definitions();
CREATE TRIGGER oauth_connections_definitions AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON oauth_connections FOR EACH STATEMENT EXECUTE FUNCTION advance_definitions();
CREATE TRIGGER integrations_definitions AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON integrations FOR EACH STATEMENT EXECUTE FUNCTION advance_definitions();
CREATE TRIGGER config_fields_definitions AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON config_fields FOR EACH STATEMENT EXECUTE FUNCTION advance_definitions();
CREATE TRIGGER integration_config_definitions AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON integration_config FOR EACH STATEMENT EXECUTE FUNCTION advance_definitions();

-- +goose Down
DROP TRIGGER api_keys_definitions ON api_keys;
DROP TRIGGER oauth_connections_definitions ON oauth_connections;
DROP TRIGGER integrations_definitions ON integrations;
DROP TRIGGER config_fields_definitions ON config_fields;
DROP TRIGGER integration_config_definitions ON integration_config;
DROP FUNCTION advance_definitions();
ALTER TABLE generation DROP COLUMN definitions;
