-- +goose Up
-- The event log (a transactional outbox): each change that matters to the
-- platform is written here in the transaction that makes it. Positions are
-- contiguous and in commit order: a transaction takes the next one from
-- generation.events, whose row it holds until it commits, so a reader that
-- has seen position N has seen every event up to N, and resumes after it.
ALTER TABLE generation ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
-- Events up to this position have been deleted by retention.
ALTER TABLE generation ADD COLUMN events_pruned INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    type        TEXT NOT NULL,
    org_id      TEXT NOT NULL DEFAULT '',
    integration TEXT NOT NULL DEFAULT '',
    connection  TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_org_position ON events (org_id, position);
CREATE INDEX events_occurred_at ON events (occurred_at);

-- Webhook endpoints an admin subscribed, each with its signing secret
-- (sealed) and the event types it wants (a JSON array; empty for all).
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret      BLOB NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);

-- One row per message and endpoint, written in the transaction of the event
-- it carries: the body is fixed then, so every attempt sends the same
-- message under the same webhook-id. A lease makes one attempt at a time
-- across replicas.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id       TEXT NOT NULL,
    event_position   INTEGER,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMP,
    last_attempt_at  TIMESTAMP,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (webhook_id, message_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, created_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE events;
ALTER TABLE generation DROP COLUMN events_pruned;
ALTER TABLE generation DROP COLUMN events;
