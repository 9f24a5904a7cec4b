-- +goose Up
-- Audit events are written on every read of a secret and read rarely, so the
-- table is laid out for writing: an integer key in the order events are written
-- (SQLite's rowid), which is also the cursor of newest-first pages, instead of
-- the text ID with an index of its own; the filter indexes end in that integer
-- (implicitly) instead of in the 36-character ID. Each event touches five
-- smaller b-trees instead of six larger ones. The ID stays, unindexed, as the
-- event's name. Existing events keep their order: they are copied in ID order,
-- which is time order (UUIDv7).
CREATE TABLE audit_events_by_seq (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    time        TIMESTAMP NOT NULL,
    api_key_id  TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL,
    integration TEXT NOT NULL DEFAULT '',
    org_id      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_events_by_seq (id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail)
    SELECT id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events ORDER BY id;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_seq RENAME TO audit_events;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id);
CREATE INDEX audit_events_integration ON audit_events (integration);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id);

-- +goose Down
CREATE TABLE audit_events_by_id (
    id          TEXT PRIMARY KEY,
    time        TIMESTAMP NOT NULL,
    api_key_id  TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL,
    integration TEXT NOT NULL DEFAULT '',
    org_id      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_events_by_id (id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail)
    SELECT id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_id RENAME TO audit_events;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_integration ON audit_events (integration, id);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, id);
