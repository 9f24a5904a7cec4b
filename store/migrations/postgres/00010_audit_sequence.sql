-- +goose Up
-- Audit events are written on every read of a secret and read rarely, so the
-- table is laid out for writing: an integer key in the order events are written,
-- which is also the cursor of newest-first pages, instead of the text ID; the
-- filter indexes end in it instead of in the 36-character ID. The ID stays,
-- unindexed, as the event's name. Existing events are numbered in ID order,
-- which is time order (UUIDv7).
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
UPDATE audit_events SET seq = ordered.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM audit_events) AS ordered
    WHERE audit_events.id = ordered.id;
ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL;
ALTER TABLE audit_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM audit_events;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD PRIMARY KEY (seq);
DROP INDEX audit_events_org;
DROP INDEX audit_events_integration;
DROP INDEX audit_events_api_key;
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_integration ON audit_events (integration, seq);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, seq);

-- +goose Down
DROP INDEX audit_events_org;
DROP INDEX audit_events_integration;
DROP INDEX audit_events_api_key;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events DROP COLUMN seq;
ALTER TABLE audit_events ADD PRIMARY KEY (id);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_integration ON audit_events (integration, id);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, id);
