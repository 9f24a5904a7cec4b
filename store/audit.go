package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEvent is one audit record. It never holds a secret.
type AuditEvent struct {
	// Seq is the event's place in the log, given when it is written: the cursor
	// of pages.
	Seq         int64
	ID          string
	Time        time.Time
	APIKeyID    string
	Role        string
	Method      string
	Integration string
	OrgID       string
	Outcome     string
	RequestID   string
	Detail      string
}

// NewAuditID returns an ID that orders events by time.
func NewAuditID() string { return newID() }

// Kinds of audit_batch_keys rows: what a filter looks a batch up by.
const (
	auditKeyOrg = iota + 1
	auditKeyIntegration
	auditKeyAPIKey
)

type auditKey struct {
	kind  int
	value string
}

// auditKeys are the keys of an event, or of a filter, by kind.
func auditKeys(orgID, integration, apiKeyID string) [3]auditKey {
	return [3]auditKey{{auditKeyOrg, orgID}, {auditKeyIntegration, integration}, {auditKeyAPIKey, apiKeyID}}
}

// InsertAuditEvents writes a batch as one row (see migration 00012): its
// events numbered from the sequence, as a JSON array, with the organizations,
// integrations and API keys they name.
func (s *Store) InsertAuditEvents(ctx context.Context, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	batch, minTime, maxTime, keys := encodeAuditBatch(events)
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		var next int64
		if err := sqlx.GetContext(ctx, tx, &next, `UPDATE audit_sequence SET next = next + ? RETURNING next`, len(events)); err != nil {
			return fmt.Errorf("numbering audit events: %w", err)
		}
		first := next - int64(len(events))
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_batches (first_seq, count, min_time, max_time, events) VALUES (?, ?, ?, ?, ?)`,
			first, len(events), minTime.UTC(), maxTime.UTC(), batch); err != nil {
			return fmt.Errorf("writing audit events: %w", err)
		}
		for k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_batch_keys (kind, value, first_seq) VALUES (?, ?, ?)`, k.kind, k.value, first); err != nil {
				return fmt.Errorf("writing audit events: %w", err)
			}
		}
		return nil
	})
}

// encodeAuditBatch returns events as their batch's JSON array, their earliest
// and latest times, and the keys filters find them by.
func encodeAuditBatch(events []AuditEvent) (batch string, minTime, maxTime time.Time, keys map[auditKey]struct{}) {
	keys = make(map[auditKey]struct{})
	// Every audited call (each GetIntegration that returns a secret) passes
	// through here: the array is written once, into the string the row
	// takes, rather than into a buffer grown by copying and then copied.
	var b strings.Builder
	b.Grow(auditBatchLen(events))
	b.WriteByte('[')
	minTime, maxTime = events[0].Time, events[0].Time
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		e = e.stored()
		writeAuditEvent(&b, e)
		if e.Time.Before(minTime) {
			minTime = e.Time
		}
		if e.Time.After(maxTime) {
			maxTime = e.Time
		}
		for _, k := range auditKeys(e.OrgID, e.Integration, e.APIKeyID) {
			if k.value != "" {
				keys[k] = struct{}{}
			}
		}
	}
	b.WriteByte(']')
	return b.String(), minTime, maxTime, keys
}

// auditBatchLen is the length of events' JSON array when storable leaves
// their texts as they are and none needs escaping, as nearly always; at
// most a few bytes short otherwise.
func auditBatchLen(events []AuditEvent) int {
	// Per event: brackets, a comma after it, the time (no longer than its
	// layout) in quotes after a comma, and nine texts in quotes, eight after
	// a comma.
	const perEvent = len("[],") + len(`,""`) + len(time.RFC3339Nano) + 9*len(`""`) + 8*len(",")
	n := len("[]")
	for _, e := range events {
		n += perEvent + len(e.ID) + len(e.APIKeyID) + len(e.Role) + len(e.Method) + len(e.Integration) + len(e.OrgID) +
			len(e.Outcome) + len(e.RequestID) + len(e.Detail)
	}
	return n
}

// stored is e as it is stored: every text as storable makes it.
func (e AuditEvent) stored() AuditEvent {
	for _, v := range []*string{&e.ID, &e.APIKeyID, &e.Role, &e.Method, &e.Integration, &e.OrgID, &e.Outcome, &e.RequestID, &e.Detail} {
		*v = storable(*v)
	}
	return e
}

// writeAuditEvent writes e, stored, as the JSON array the audit_events view
// reads.
func writeAuditEvent(b *strings.Builder, e AuditEvent) {
	b.WriteByte('[')
	writeJSONString(b, e.ID)
	b.WriteString(`,"`)
	var t [len(time.RFC3339Nano)]byte
	b.Write(e.Time.UTC().AppendFormat(t[:0], time.RFC3339Nano))
	b.WriteByte('"')
	for _, v := range [...]string{e.APIKeyID, e.Role, e.Method, e.Integration, e.OrgID, e.Outcome, e.RequestID, e.Detail} {
		b.WriteByte(',')
		writeJSONString(b, v)
	}
	b.WriteByte(']')
}

// writeJSONString writes s, valid UTF-8 (storable), as a JSON string.
// encoding/json would take a reflective walk and an allocation per value for
// what is, for nearly every value, a copy between quotes.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
			b.WriteByte(c)
		} else {
			b.Write([]byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]})
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// decodeAuditBatch returns the events of the batch numbered from first.
func decodeAuditBatch(first int64, batch string) ([]AuditEvent, error) {
	var rows [][10]string
	if err := json.Unmarshal([]byte(batch), &rows); err != nil {
		return nil, fmt.Errorf("reading the audit batch at %d: %w", first, err)
	}
	events := make([]AuditEvent, len(rows))
	for i, r := range rows {
		t, err := time.Parse(time.RFC3339Nano, r[1])
		if err != nil {
			return nil, fmt.Errorf("reading the audit batch at %d: %w", first, err)
		}
		events[i] = AuditEvent{Seq: first + int64(i), ID: r[0], Time: t.UTC(), APIKeyID: r[2], Role: r[3], Method: r[4],
			Integration: r[5], OrgID: r[6], Outcome: r[7], RequestID: r[8], Detail: r[9]}
	}
	return events, nil
}

// AuditFilter selects audit events; zero fields do not filter.
type AuditFilter struct {
	Start, End  time.Time
	OrgID       string
	Integration string
	APIKeyID    string
	// Before selects the events written before the one with this Seq: the
	// last of the previous page.
	Before int64
}

// auditBatchesPerRead is how many batches a listing reads at a time: under
// load one holds hundreds of events, when calls are rare one or two.
const auditBatchesPerRead = 16

// ListAuditEvents returns at most limit events, newest first.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	var events []AuditEvent
	before := f.Before
	for len(events) < limit {
		batches, err := s.auditBatches(ctx, f, before)
		if err != nil {
			return nil, err
		}
		for _, b := range batches {
			batch, err := decodeAuditBatch(b.FirstSeq, b.Events)
			if err != nil {
				return nil, err
			}
			for _, e := range slices.Backward(batch) {
				if f.matches(e) {
					events = append(events, e)
				}
				if len(events) == limit {
					return events, nil
				}
			}
		}
		if len(batches) < auditBatchesPerRead {
			break
		}
		before = batches[len(batches)-1].FirstSeq
	}
	return events, nil
}

// matches says whether e is one of the events f selects.
func (f AuditFilter) matches(e AuditEvent) bool {
	return (f.Start.IsZero() || !e.Time.Before(f.Start)) &&
		(f.End.IsZero() || e.Time.Before(f.End)) &&
		(f.OrgID == "" || e.OrgID == f.OrgID) &&
		(f.Integration == "" || e.Integration == f.Integration) &&
		(f.APIKeyID == "" || e.APIKeyID == f.APIKeyID) &&
		(f.Before == 0 || e.Seq < f.Before)
}

type auditBatch struct {
	FirstSeq int64  `db:"first_seq"`
	Events   string `db:"events"`
}

// auditBatches returns, newest first, the next batches before the one that
// begins at before (0: the newest) that may hold events f selects. The first
// filter on a key walks that key's batches backwards in its index; the others
// are looked up for each.
func (s *Store) auditBatches(ctx context.Context, f AuditFilter, before int64) ([]auditBatch, error) {
	var where []string
	var args []any
	from, seq := "audit_batches b", "b.first_seq"
	for _, k := range auditKeys(f.OrgID, f.Integration, f.APIKeyID) {
		switch {
		case k.value == "":
		case len(args) == 0:
			from, seq = "audit_batch_keys k JOIN audit_batches b ON b.first_seq = k.first_seq", "k.first_seq"
			where = append(where, "k.kind = ? AND k.value = ?")
			args = append(args, k.kind, k.value)
		default:
			where = append(where, "EXISTS (SELECT 1 FROM audit_batch_keys WHERE kind = ? AND value = ? AND first_seq = b.first_seq)")
			args = append(args, k.kind, k.value)
		}
	}
	if before != 0 {
		where = append(where, seq+" < ?")
		args = append(args, before)
	}
	if !f.Start.IsZero() {
		where = append(where, "b.max_time >= ?")
		args = append(args, f.Start.UTC())
	}
	if !f.End.IsZero() {
		where = append(where, "b.min_time < ?")
		args = append(args, f.End.UTC())
	}
	query := "SELECT b.first_seq, b.events FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	var batches []auditBatch
	if err := sqlx.SelectContext(ctx, s.reader(), &batches, query+" ORDER BY "+seq+" DESC LIMIT ?", append(args, auditBatchesPerRead)...); err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	return batches, nil
}

// PruneAuditEvents deletes the batches whose every event is older than
// before, a few at a time so that writers are not held up, and returns how
// many events it deleted. An event outlives before by at most the span of its
// batch: a flush interval, or an outage the writer waited out.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.inUntrackedTx(ctx, func(tx writeTx) error {
			// The batches are picked once: statements each picking "any 100"
			// could pick different ones.
			var old []struct {
				FirstSeq int64 `db:"first_seq"`
				Count    int64 `db:"count"`
			}
			if err := sqlx.SelectContext(ctx, tx, &old, `SELECT first_seq, count FROM audit_batches WHERE max_time < ? LIMIT 100`, before.UTC()); err != nil {
				return fmt.Errorf("pruning audit events: %w", err)
			}
			var deleted int64
			for _, b := range old {
				for _, table := range []string{"audit_batch_keys", "audit_batches"} {
					if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE first_seq = ?`, b.FirstSeq); err != nil {
						return fmt.Errorf("pruning audit events: %w", err)
					}
				}
				deleted += b.Count
			}
			n = deleted
			return nil
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}
