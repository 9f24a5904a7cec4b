-- +goose Up
-- The audit log is stored as the writer hands it over: one row per batch,
-- its events a JSON array of arrays, instead of one row per event with four
-- filter indexes (see the SQLite migration of the same number for the costs).
-- Filters find batches through audit_batch_keys; an event's number is its
-- batch's first_seq plus its place in the batch, handed out by
-- audit_sequence, whose row lock also makes batches commit in the order of
-- their numbers, so a page cursor never skips a batch committed late.
--
-- Each event is [id, time (RFC 3339), api_key_id, role, method, integration,
-- org_id, outcome, request_id, detail]. The view audit_events shows the log as rows,
-- as before. Replicas of the previous version keep writing events during a
-- rolling upgrade: the lock makes their inserts wait for the copy, and the
-- view's trigger then stores each as a batch of one.
LOCK TABLE audit_events IN SHARE MODE;
CREATE TABLE audit_sequence (next BIGINT NOT NULL);
INSERT INTO audit_sequence (next) SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events;
CREATE TABLE audit_batches (
    first_seq BIGINT PRIMARY KEY,
    count     INTEGER NOT NULL,
    min_time  TIMESTAMPTZ NOT NULL,
    max_time  TIMESTAMPTZ NOT NULL,
    events    TEXT NOT NULL
);
CREATE INDEX audit_batches_max_time ON audit_batches (max_time);
-- kind: 1 organization, 2 integration, 3 API key. Its indexes are built
-- after the copy: faster than inserting into them row by row.
CREATE TABLE audit_batch_keys (
    kind      SMALLINT NOT NULL,
    value     TEXT NOT NULL,
    first_seq BIGINT NOT NULL
);
-- An event as the service writes it, for the copy and for the old replicas'
-- inserts. The time is as json_build_array writes a TIMESTAMPTZ: RFC 3339
-- with the session's offset (for any time since 1972: before, some zones'
-- offsets had seconds, which RFC 3339 has not). STABLE, as json_build_array is, so that
-- PostgreSQL inlines it (declared IMMUTABLE it is called per row, and the
-- copy took 60% longer).
-- +goose StatementBegin
CREATE FUNCTION audit_event_json(TEXT, TIMESTAMPTZ, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_array($1, $2,
        COALESCE($3, ''), COALESCE($4, ''), $5, COALESCE($6, ''), COALESCE($7, ''), $8, COALESCE($9, ''), COALESCE($10, ''))
$$;
-- +goose StatementEnd
-- Existing events are copied in batches of the thousands of their numbers
-- (seq / 1000), so that they keep their numbers; an event of a thousand with
-- a gap (pruned out of order, or a number a rolled-back insert took) is a
-- batch of its own.
CREATE TEMP TABLE audit_copy ON COMMIT DROP AS
    SELECT e.*, CASE WHEN t.whole THEN t.first_seq ELSE e.seq END AS first_seq
    FROM audit_events e JOIN (
        SELECT seq / 1000 AS thousand, MIN(seq) AS first_seq, COUNT(*) = MAX(seq) - MIN(seq) + 1 AS whole
        FROM audit_events GROUP BY seq / 1000) t ON t.thousand = e.seq / 1000;
INSERT INTO audit_batches (first_seq, count, min_time, max_time, events)
    SELECT first_seq, COUNT(*), MIN(time), MAX(time),
        json_agg(audit_event_json(id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail) ORDER BY seq)::text
    FROM audit_copy GROUP BY first_seq;
INSERT INTO audit_batch_keys (kind, value, first_seq)
    SELECT DISTINCT 1, org_id, first_seq FROM audit_copy WHERE org_id <> ''
    UNION ALL SELECT DISTINCT 2, integration, first_seq FROM audit_copy WHERE integration <> ''
    UNION ALL SELECT DISTINCT 3, api_key_id, first_seq FROM audit_copy WHERE api_key_id <> '';
ALTER TABLE audit_batch_keys ADD PRIMARY KEY (kind, value, first_seq);
CREATE INDEX audit_batch_keys_batch ON audit_batch_keys (first_seq);
DROP TABLE audit_events;
CREATE VIEW audit_events AS
    SELECT b.first_seq + e.i - 1 AS seq, e.v ->> 0 AS id, (e.v ->> 1)::timestamptz AS time, e.v ->> 2 AS api_key_id,
        e.v ->> 3 AS role, e.v ->> 4 AS method, e.v ->> 5 AS integration, e.v ->> 6 AS org_id,
        e.v ->> 7 AS outcome, e.v ->> 8 AS request_id, e.v ->> 9 AS detail
    FROM audit_batches b CROSS JOIN LATERAL json_array_elements(b.events::json) WITH ORDINALITY AS e(v, i);
-- +goose StatementBegin
CREATE FUNCTION audit_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seq BIGINT;
BEGIN
    UPDATE audit_sequence SET next = next + 1 RETURNING next - 1 INTO seq;
    INSERT INTO audit_batches (first_seq, count, min_time, max_time, events)
        VALUES (seq, 1, NEW.time, NEW.time, json_build_array(audit_event_json(NEW.id, NEW.time, NEW.api_key_id, NEW.role, NEW.method,
            NEW.integration, NEW.org_id, NEW.outcome, NEW.request_id, NEW.detail))::text);
    INSERT INTO audit_batch_keys (kind, value, first_seq)
        SELECT k, v, seq FROM (VALUES (1, NEW.org_id), (2, NEW.integration), (3, NEW.api_key_id)) AS keys(k, v) WHERE v <> '';
    NEW.seq := seq;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_insert INSTEAD OF INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_insert();

-- +goose Down
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
    SELECT seq, id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events;
SELECT setval(pg_get_serial_sequence('audit_events_by_seq', 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM audit_events_by_seq;
DROP VIEW audit_events;
DROP FUNCTION audit_events_insert();
DROP FUNCTION audit_event_json(TEXT, TIMESTAMPTZ, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT);
DROP TABLE audit_batch_keys;
DROP TABLE audit_batches;
DROP TABLE audit_sequence;
ALTER TABLE audit_events_by_seq RENAME TO audit_events;
ALTER TABLE audit_events RENAME CONSTRAINT audit_events_by_seq_pkey TO audit_events_pkey;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_integration ON audit_events (integration, seq);
CREATE INDEX audit_events_api_key ON audit_events (api_key_id, seq);
