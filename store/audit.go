package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEvent is one audit record. It never holds a secret.
type AuditEvent struct {
	// Seq is the event's place in the log, given when it is written: the cursor
	// of pages (see migration 00010).
	Seq         int64     `db:"seq"`
	ID          string    `db:"id"`
	Time        time.Time `db:"time"`
	APIKeyID    string    `db:"api_key_id"`
	Role        string    `db:"role"`
	Method      string    `db:"method"`
	Integration string    `db:"integration"`
	OrgID       string    `db:"org_id"`
	Outcome     string    `db:"outcome"`
	RequestID   string    `db:"request_id"`
	Detail      string    `db:"detail"`
}

// NewAuditID returns an ID that orders events by time.
func NewAuditID() string { return newID() }

// auditRowsPerInsert bounds one multi-row INSERT (10 values a row stays far
// below both databases' limits on bound parameters). A power of two: see
// InsertAuditEvents.
const auditRowsPerInsert = 64

// InsertAuditEvents writes a batch in one transaction, many rows per statement:
// one round trip to the database per few dozen events instead of per event.
// Statements hold a power-of-two number of rows, so that the prepared
// statements kept for them are a handful (64, 32, ... 1 rows), not one per
// batch size.
func (s *Store) InsertAuditEvents(ctx context.Context, events []AuditEvent) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		for len(events) > 0 {
			n := auditRowsPerInsert
			for n > len(events) {
				n /= 2
			}
			var query strings.Builder
			query.WriteString(`INSERT INTO audit_events (id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail) VALUES `)
			args := make([]any, 0, n*10)
			for i, e := range events[:n] {
				if i > 0 {
					query.WriteString(", ")
				}
				query.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, e.ID, e.Time.UTC(), storable(e.APIKeyID), storable(e.Role), storable(e.Method), storable(e.Integration),
					storable(e.OrgID), storable(e.Outcome), storable(e.RequestID), storable(e.Detail))
			}
			if _, err := tx.ExecContext(ctx, query.String(), args...); err != nil {
				return fmt.Errorf("writing audit events: %w", err)
			}
			events = events[n:]
		}
		return nil
	})
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

// ListAuditEvents returns at most limit events, newest first.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	var where []string
	var args []any
	add := func(clause string, arg any) {
		where = append(where, clause)
		args = append(args, arg)
	}
	if !f.Start.IsZero() {
		add("time >= ?", f.Start.UTC())
	}
	if !f.End.IsZero() {
		add("time < ?", f.End.UTC())
	}
	if f.OrgID != "" {
		add("org_id = ?", f.OrgID)
	}
	if f.Integration != "" {
		add("integration = ?", f.Integration)
	}
	if f.APIKeyID != "" {
		add("api_key_id = ?", f.APIKeyID)
	}
	if f.Before != 0 {
		add("seq < ?", f.Before)
	}
	query := `SELECT seq, id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	var events []AuditEvent
	if err := sqlx.SelectContext(ctx, s.reader(), &events, query+" ORDER BY seq DESC LIMIT ?", append(args, limit)...); err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	return events, nil
}

// PruneAuditEvents deletes events older than before, in batches so that writers
// are not held up; it returns how many it deleted.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.inUntrackedTx(ctx, func(tx writeTx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE time < ? LIMIT 1000)`, before.UTC())
			if err != nil {
				return fmt.Errorf("pruning audit events: %w", err)
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}
