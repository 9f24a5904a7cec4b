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
-- The triggers are deferred to the commit: a transaction then locks the
-- generation row after every other row it writes, as the service's own
-- advance does, where an immediate trigger would lock it first and deadlock
-- with a writer holding a row it wants and waiting for the generation (seen:
-- a data key rotation against mapping writes).
-- +goose StatementBegin
CREATE FUNCTION advance_definitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE generation SET definitions = definitions + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER api_keys_definitions AFTER INSERT OR UPDATE OR DELETE ON api_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION advance_definitions();
CREATE CONSTRAINT TRIGGER oauth_connections_definitions AFTER INSERT OR UPDATE OR DELETE ON oauth_connections
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION advance_definitions();
CREATE CONSTRAINT TRIGGER integrations_definitions AFTER INSERT OR UPDATE OR DELETE ON integrations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION advance_definitions();
CREATE CONSTRAINT TRIGGER config_fields_definitions AFTER INSERT OR UPDATE OR DELETE ON config_fields
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION advance_definitions();
CREATE CONSTRAINT TRIGGER integration_config_definitions AFTER INSERT OR UPDATE OR DELETE ON integration_config
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION advance_definitions();

-- +goose Down
DROP TRIGGER api_keys_definitions ON api_keys;
DROP TRIGGER oauth_connections_definitions ON oauth_connections;
DROP TRIGGER integrations_definitions ON integrations;
DROP TRIGGER config_fields_definitions ON config_fields;
DROP TRIGGER integration_config_definitions ON integration_config;
DROP FUNCTION advance_definitions();
ALTER TABLE generation DROP COLUMN definitions;
