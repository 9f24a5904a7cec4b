-- +goose Up
-- An external entity belongs to at most one organization per integration, and
-- the database says so. IDs that differ only in case are one entity (tenant
-- GUIDs and domain names are case-insensitive at the providers). Where an
-- earlier version let several organizations claim one entity, the
-- organization that mapped it first keeps it and the later claims are cleared
-- (they read the integration's default entity).
UPDATE mappings SET entity_id = ''
WHERE entity_id <> '' AND EXISTS (
    SELECT 1 FROM mappings earlier
    WHERE earlier.integration_id = mappings.integration_id AND lower(earlier.entity_id) = lower(mappings.entity_id)
      AND (earlier.created_at < mappings.created_at OR (earlier.created_at = mappings.created_at AND earlier.id < mappings.id)));
DROP INDEX mappings_integration_entity;
CREATE UNIQUE INDEX mappings_integration_entity ON mappings (integration_id, lower(entity_id)) WHERE entity_id <> '';

-- A mapping names only a token of its own organization (or the global one) of
-- its integration's connection, bound to no entity (client-credentials tokens
-- are chosen by the mapping's entity); earlier versions checked the connection alone.
UPDATE mappings SET oauth_token_id = NULL
WHERE oauth_token_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM oauth_tokens t JOIN integrations i ON i.id = mappings.integration_id
    WHERE t.id = mappings.oauth_token_id AND t.org_id IN (mappings.org_id, '') AND t.entity_id = ''
      AND t.connection_id = i.oauth_connection_id);

-- Whether keys bound to one organization may bind it to an external entity no
-- other organization holds; otherwise only admins (and all-organization keys) bind.
ALTER TABLE integrations ADD COLUMN workers_bind_entities BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE integrations DROP COLUMN workers_bind_entities;
DROP INDEX mappings_integration_entity;
CREATE INDEX mappings_integration_entity ON mappings (integration_id, entity_id);
