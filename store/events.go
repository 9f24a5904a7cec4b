package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// EventType names a kind of change in the event log.
type EventType string

// The event types. Token events carry the token's organization, connection
// and new status; the rest name what changed.
const (
	EventTokenConnected     EventType = "token.connected"      // a sign-in stored a token
	EventTokenPut           EventType = "token.put"            // an admin put a token by hand
	EventTokenRefreshFailed EventType = "token.refresh_failed" // a refresh failed; the token may still be valid
	EventTokenNeedsReauth   EventType = "token.needs_reauth"   // the provider says the grant is dead
	EventTokenRecovered     EventType = "token.recovered"      // a failing token is connected again
	EventTokenDisconnected  EventType = "token.disconnected"   // the token was deleted
	EventMappingUpserted    EventType = "mapping.upserted"
	EventMappingDeleted     EventType = "mapping.deleted"
	EventIntegrationCreated EventType = "integration.created"
	EventIntegrationUpdated EventType = "integration.updated"
	EventIntegrationDeleted EventType = "integration.deleted"
	EventConnectionCreated  EventType = "connection.created"
	EventConnectionUpdated  EventType = "connection.updated"
	EventConnectionDeleted  EventType = "connection.deleted"
	EventKeyRotated         EventType = "key.rotated"
	EventKeyRetired         EventType = "key.retired"
)

// EventTypes are all event types, in the order they are documented.
var EventTypes = []EventType{
	EventTokenConnected, EventTokenPut, EventTokenRefreshFailed, EventTokenNeedsReauth, EventTokenRecovered, EventTokenDisconnected,
	EventMappingUpserted, EventMappingDeleted,
	EventIntegrationCreated, EventIntegrationUpdated, EventIntegrationDeleted,
	EventConnectionCreated, EventConnectionUpdated, EventConnectionDeleted,
	EventKeyRotated, EventKeyRetired,
}

// Event is one change in the event log. Nothing in it is secret: IDs, names,
// a status and a reason written for people.
type Event struct {
	Position    int64     `db:"position" json:"position"`
	ID          string    `db:"id" json:"id"`
	Time        time.Time `db:"occurred_at" json:"time"`
	Type        EventType `db:"type" json:"type"`
	OrgID       string    `db:"org_id" json:"org_id,omitempty"`
	Integration string    `db:"integration" json:"integration,omitempty"`
	Connection  string    `db:"connection" json:"connection,omitempty"`
	// Status is a token's status after the change (TokenStatus, or
	// "disconnected"); empty for other events.
	Status string `db:"status" json:"status,omitempty"`
	Reason string `db:"reason" json:"reason,omitempty"`
}

// TokenDisconnected is the status a token.disconnected event carries.
const TokenDisconnected = "disconnected"

// recordEvent appends events to the event log in tx, and queues their
// webhook deliveries there too. Each position is the next of
// generation.events: the update holds the generation row until tx ends, so
// positions are handed out in commit order, without gaps.
func (s *Store) recordEvent(ctx context.Context, tx writeTx, events ...Event) error {
	hooks, err := s.allWebhooks(ctx, tx, false)
	if err != nil {
		return err
	}
	for _, e := range events {
		e.ID = newID()
		e.Time = s.timestamp()
		e.Reason = storable(e.Reason)
		if err := sqlx.GetContext(ctx, tx, &e.Position, `UPDATE generation SET events = events + 1 WHERE id = 1 RETURNING events`); err != nil {
			return fmt.Errorf("numbering event %s: %w", e.Type, err)
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO events (position, id, occurred_at, type, org_id, integration, connection, status, reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Position, e.ID, e.Time, string(e.Type), e.OrgID, e.Integration, e.Connection, e.Status, e.Reason); err != nil {
			return fmt.Errorf("recording event %s: %w", e.Type, err)
		}
		if err := queueDeliveries(ctx, tx, hooks, e); err != nil {
			return err
		}
	}
	return nil
}

// EventFilter narrows the events read. Zero fields do not narrow.
type EventFilter struct {
	Types []EventType
	// OrgID is one organization's events; with PlatformToo, also the
	// events of no organization (integrations, connections, global tokens).
	OrgID       string
	AnyOrg      bool // every organization's events, and the platform's
	PlatformToo bool
	Integration string
	// Connection is the integration's connection, whose token events concern it.
	Connection string
	// WithoutKeys leaves out key.* events (not for organization-bound callers).
	WithoutKeys bool
}

// EventPage is what one read of the log returns.
type EventPage struct {
	Events []Event
	// Head is the log's last position in the read's snapshot: every event up
	// to it matching the filter is in Events (unless the page is full).
	Head int64
	// Pruned is the last position retention has deleted.
	Pruned int64
}

// Events returns up to limit events after position that match f, in order,
// with the log's head and pruned position from the same snapshot.
func (s *Store) Events(ctx context.Context, after int64, f EventFilter, limit int) (EventPage, error) {
	var page EventPage
	err := s.inReadTx(ctx, func(q sqlx.QueryerContext) error {
		// On PostgreSQL each statement reads its own snapshot: the head is read
		// before the events (all events up to it are then in the page), the
		// pruned position after them (a retention run that deleted some of
		// them is then seen).
		if err := sqlx.GetContext(ctx, q, &page.Head, `SELECT events FROM generation WHERE id = 1`); err != nil {
			return fmt.Errorf("reading the event log's head: %w", err)
		}
		query, args := `SELECT position, id, occurred_at, type, org_id, integration, connection, status, reason FROM events WHERE position > ?`, []any{after}
		if !f.AnyOrg {
			if f.PlatformToo {
				query += ` AND org_id IN (?, '')`
			} else {
				query += ` AND org_id = ?`
			}
			args = append(args, f.OrgID)
		}
		if f.Integration != "" {
			query += ` AND (integration = ? OR (integration = '' AND connection <> '' AND connection = ?))`
			args = append(args, f.Integration, f.Connection)
		}
		if f.WithoutKeys {
			query += ` AND type NOT IN (?, ?)`
			args = append(args, string(EventKeyRotated), string(EventKeyRetired))
		}
		if len(f.Types) > 0 {
			query += ` AND type IN (?` + strings.Repeat(`, ?`, len(f.Types)-1) + `)`
			for _, t := range f.Types {
				args = append(args, string(t))
			}
		}
		query += ` ORDER BY position LIMIT ?`
		args = append(args, limit)
		page.Events = nil
		if err := sqlx.SelectContext(ctx, q, &page.Events, query, args...); err != nil {
			return fmt.Errorf("reading events: %w", err)
		}
		for i := range page.Events {
			page.Events[i].Time = page.Events[i].Time.UTC()
		}
		if err := sqlx.GetContext(ctx, q, &page.Pruned, `SELECT events_pruned FROM generation WHERE id = 1`); err != nil {
			return fmt.Errorf("reading the event log's pruned position: %w", err)
		}
		return nil
	})
	return page, err
}

// EventHead is the position of the last event written.
func (s *Store) EventHead(ctx context.Context) (int64, error) {
	var head int64
	if err := sqlx.GetContext(ctx, s.reader(), &head, `SELECT events FROM generation WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("reading the event log's head: %w", err)
	}
	return head, nil
}

// PruneEvents deletes the events that occurred before before, and their
// delivered or abandoned webhook deliveries, and returns how many events it
// deleted. A reader resuming from a deleted position learns that events are
// missing (EventPage.Pruned).
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var deleted int64
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		deleted = 0 // a run that was rolled back may have set it
		var last *int64
		if err := sqlx.GetContext(ctx, tx, &last, `SELECT MAX(position) FROM events WHERE occurred_at < ?`, before.UTC()); err != nil {
			return fmt.Errorf("finding events to prune: %w", err)
		}
		if last == nil {
			return nil
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE position <= ?`, *last)
		if err != nil {
			return fmt.Errorf("pruning events: %w", err)
		}
		if deleted, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
DELETE FROM webhook_deliveries WHERE status <> ? AND created_at < ?`, string(DeliveryPending), before.UTC()); err != nil {
			return fmt.Errorf("pruning webhook deliveries: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE generation SET events_pruned = ? WHERE id = 1 AND events_pruned < ?`, *last, *last)
		return err
	})
	return deleted, err
}

// eventPayload is the body of a webhook message, per the Standard Webhooks
// specification: type, timestamp and the event as data.
func eventPayload(e Event) (string, error) {
	body, err := json.Marshal(struct {
		Type      EventType `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      Event     `json:"data"`
	}{e.Type, e.Time, e})
	if err != nil {
		return "", fmt.Errorf("encoding event %s: %w", e.ID, err)
	}
	return string(body), nil
}
