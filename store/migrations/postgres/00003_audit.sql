-- +goose Up
-- IDs are UUIDv7: ordered by time, so they are the cursor of newest-first pages.
CREATE TABLE audit_events (
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
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_integration ON audit_events (integration, id);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, id);

-- +goose Down
DROP TABLE audit_events;
