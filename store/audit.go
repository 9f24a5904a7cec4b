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

// InsertAuditEvents writes a batch in one transaction.
func (s *Store) InsertAuditEvents(ctx context.Context, events []AuditEvent) error {
	return s.inUntrackedTx(ctx, func(tx *sqlx.Tx) error {
		stmt, err := tx.PrepareNamedContext(ctx, `
INSERT INTO audit_events (id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail)
VALUES (:id, :time, :api_key_id, :role, :method, :integration, :org_id, :outcome, :request_id, :detail)`)
		if err != nil {
			return fmt.Errorf("preparing audit insert: %w", err)
		}
		defer stmt.Close()
		for _, e := range events {
			e.Time = e.Time.UTC()
			if _, err := stmt.ExecContext(ctx, e); err != nil {
				return fmt.Errorf("writing audit event: %w", err)
			}
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
}

// ListAuditEvents returns events newest first; page.After is the ID of the last
// event of the previous page.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter, page Page) ([]AuditEvent, error) {
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
	if page.After != "" {
		add("id < ?", page.After)
	}
	query := `SELECT id, time, api_key_id, role, method, integration, org_id, outcome, request_id, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	var events []AuditEvent
	if err := sqlx.SelectContext(ctx, s.reader(), &events, query+" ORDER BY id DESC LIMIT ?", append(args, page.Limit)...); err != nil {
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
		err := s.inUntrackedTx(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE time < ? LIMIT 1000)`, before.UTC())
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
