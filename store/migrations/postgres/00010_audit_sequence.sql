-- +goose Up
-- Audit events are written on every read of a secret and read rarely, so the
-- table is laid out for writing: an integer key in the order events are written,
-- which is also the cursor of newest-first pages, instead of the text ID; the
-- filter indexes end in it instead of in the 36-character ID. The ID stays,
-- unindexed, as the event's name. Existing events are copied numbered in ID
-- order, which is time order (UUIDv7): a copy, not an UPDATE in place, which
-- would leave a dead version of every row behind. Replicas of the previous
-- version keep writing events during a rolling upgrade: the lock makes their
-- inserts wait for the copy (then they land in the new table), where an event
-- written after the copy began would be dropped with the old table.
LOCK TABLE audit_events IN SHARE MODE;
CREATE TABLE audit_events_by_seq (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL,
    time        TIMESTAMPTZ NOT NULL,
    api_key_id  TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL,
    integration TEXT NOT NULL DEFAULT '',
    org_id      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_events_by_seq (seq, id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail)
    OVERRIDING SYSTEM VALUE
    SELECT row_number() OVER (ORDER BY id), id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events;
SELECT setval(pg_get_serial_sequence('audit_events_by_seq', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM audit_events_by_seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_seq RENAME TO audit_events;
ALTER TABLE audit_events RENAME CONSTRAINT audit_events_by_seq_pkey TO audit_events_pkey;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_integration ON audit_events (integration, seq);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, seq);

-- +goose Down
LOCK TABLE audit_events IN SHARE MODE;
CREATE TABLE audit_events_by_id (
    id          TEXT PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
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
ALTER TABLE audit_events RENAME CONSTRAINT audit_events_by_id_pkey TO audit_events_pkey;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_integration ON audit_events (integration, id);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, id);
