package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// Webhook is an endpoint an admin subscribed to events.
type Webhook struct {
	ID  string
	URL string
	// EventTypes are the types it receives; empty for all.
	EventTypes  []EventType
	Description string
	// Secret is the signing secret (whsec_...); only read with
	// WebhookWithSecret, for signing.
	Secret    string
	CreatedAt time.Time
}

type webhookRow struct {
	ID          string    `db:"id"`
	URL         string    `db:"url"`
	EventTypes  string    `db:"event_types"`
	Secret      []byte    `db:"secret"`
	Description string    `db:"description"`
	CreatedAt   time.Time `db:"created_at"`
}

const webhookColumns = `id, url, event_types, secret, description, created_at`

// wants says whether the endpoint receives events of type t.
func (w Webhook) wants(t EventType) bool {
	return len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, t)
}

func (s *Store) webhookFromRow(row webhookRow, withSecret bool) (Webhook, error) {
	w := Webhook{ID: row.ID, URL: row.URL, Description: row.Description, CreatedAt: row.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(row.EventTypes), &w.EventTypes); err != nil {
		return Webhook{}, fmt.Errorf("webhook %s: event types: %w", row.ID, err)
	}
	if withSecret {
		secret, err := s.open("webhooks", "secret", row.ID, row.Secret)
		if err != nil {
			return Webhook{}, err
		}
		w.Secret = secret
	}
	return w, nil
}

// CreateWebhook stores a new endpoint, its secret sealed.
func (s *Store) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w.ID = newID()
	w.CreatedAt = s.timestamp()
	secret, err := s.seal("webhooks", "secret", w.ID, w.Secret)
	if err != nil {
		return Webhook{}, err
	}
	err = s.inUntrackedTx(ctx, func(tx writeTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			w.ID, w.URL, jsonText(nonNil(w.EventTypes)), secret, storable(w.Description), w.CreatedAt)
		return translate(err, "webhook")
	})
	return w, err
}

// Webhooks lists a page of endpoints in the order of their IDs (oldest
// first), without their secrets.
func (s *Store) Webhooks(ctx context.Context, page Page) ([]Webhook, error) {
	var rows []webhookRow
	if err := sqlx.SelectContext(ctx, s.reader(), &rows, `SELECT `+webhookColumns+` FROM webhooks WHERE id > ? ORDER BY id LIMIT ?`, page.After, page.Limit); err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", err)
	}
	return s.webhooksFromRows(rows, false)
}

// WebhooksWithSecrets lists every endpoint with its secret, for delivery.
func (s *Store) WebhooksWithSecrets(ctx context.Context) ([]Webhook, error) {
	return s.allWebhooks(ctx, s.reader(), true)
}

func (s *Store) allWebhooks(ctx context.Context, q sqlx.QueryerContext, withSecrets bool) ([]Webhook, error) {
	var rows []webhookRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+webhookColumns+` FROM webhooks ORDER BY id`); err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", err)
	}
	return s.webhooksFromRows(rows, withSecrets)
}

func (s *Store) webhooksFromRows(rows []webhookRow, withSecrets bool) ([]Webhook, error) {
	out := make([]Webhook, 0, len(rows))
	for _, row := range rows {
		w, err := s.webhookFromRow(row, withSecrets)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// GetWebhook returns one endpoint without its secret.
func (s *Store) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	var row webhookRow
	if err := sqlx.GetContext(ctx, s.reader(), &row, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id); err != nil {
		return Webhook{}, translate(err, fmt.Sprintf("webhook %s", id))
	}
	return s.webhookFromRow(row, false)
}

// DeleteWebhook removes an endpoint and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id); err != nil {
			return fmt.Errorf("deleting the deliveries of webhook %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return translate(err, fmt.Sprintf("webhook %s", id))
		}
		return requireAffected(res, fmt.Sprintf("webhook %s", id))
	})
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // the endpoint answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // retries ran out
)

// Delivery is one message to one endpoint, with how its attempts went.
type Delivery struct {
	ID             string         `db:"id"`
	WebhookID      string         `db:"webhook_id"`
	MessageID      string         `db:"message_id"`
	EventPosition  sql.NullInt64  `db:"event_position"`
	EventType      string         `db:"event_type"`
	Payload        string         `db:"payload"`
	Status         DeliveryStatus `db:"status"`
	Attempts       int            `db:"attempts"`
	NextAttemptAt  time.Time      `db:"next_attempt_at"`
	LastAttemptAt  sql.NullTime   `db:"last_attempt_at"`
	LastStatusCode int            `db:"last_status_code"`
	LastError      string         `db:"last_error"`
	CreatedAt      time.Time      `db:"created_at"`
}

const deliveryColumns = `id, webhook_id, message_id, event_position, event_type, payload, status, attempts,
       next_attempt_at, last_attempt_at, last_status_code, last_error, created_at`

// queueDeliveries queues e for every endpoint of hooks that wants it, in
// e's transaction.
func queueDeliveries(ctx context.Context, tx writeTx, hooks []Webhook, e Event) error {
	var payload string
	var err error
	for _, w := range hooks {
		if !w.wants(e.Type) {
			continue
		}
		if payload == "" {
			if payload, err = eventPayload(e); err != nil {
				return err
			}
		}
		if err := insertDelivery(ctx, tx, w.ID, e.ID, sql.NullInt64{Int64: e.Position, Valid: true}, string(e.Type), payload, e.Time); err != nil {
			return err
		}
	}
	return nil
}

func insertDelivery(ctx context.Context, tx writeTx, webhookID, messageID string, position sql.NullInt64, eventType, payload string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `
INSERT INTO webhook_deliveries (id, webhook_id, message_id, event_position, event_type, payload, status, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, newID(), webhookID, messageID, position, eventType, payload, string(DeliveryPending), now, now)
	if err != nil {
		return fmt.Errorf("queueing a delivery to webhook %s: %w", webhookID, err)
	}
	return nil
}

// EventWebhookTest is the type of the message SendTestMessage queues.
const EventWebhookTest = "webhook.test"

// SendTestMessage queues a webhook.test message for one endpoint and returns
// its delivery.
func (s *Store) SendTestMessage(ctx context.Context, webhookID string) (Delivery, error) {
	var d Delivery
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		if _, err := s.webhookInTx(ctx, tx, webhookID); err != nil {
			return err
		}
		now := s.timestamp()
		messageID := newID()
		body, err := json.Marshal(map[string]any{"type": EventWebhookTest, "timestamp": now, "data": map[string]string{"webhook_id": webhookID}})
		if err != nil {
			return err
		}
		if err := insertDelivery(ctx, tx, webhookID, messageID, sql.NullInt64{}, EventWebhookTest, string(body), now); err != nil {
			return err
		}
		return sqlx.GetContext(ctx, tx, &d, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = ? AND message_id = ?`, webhookID, messageID)
	})
	return d, err
}

func (s *Store) webhookInTx(ctx context.Context, q sqlx.QueryerContext, id string) (webhookRow, error) {
	var row webhookRow
	if err := sqlx.GetContext(ctx, q, &row, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id); err != nil {
		return webhookRow{}, translate(err, fmt.Sprintf("webhook %s", id))
	}
	return row, nil
}

// ClaimDelivery leases the endpoint's next due delivery to owner until until,
// counting the attempt, and returns it; ErrNotFound when none is due. A
// delivery whose lease has run out (its replica died mid-attempt) is due
// again: delivery is at least once.
func (s *Store) ClaimDelivery(ctx context.Context, webhookID, owner string, now, until time.Time) (Delivery, error) {
	var d Delivery
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		pick := `
SELECT id FROM webhook_deliveries
WHERE webhook_id = ? AND status = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
ORDER BY next_attempt_at, id LIMIT 1`
		if s.write.DriverName() == "pgx" {
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		var id string
		if err := sqlx.GetContext(ctx, tx, &id, pick, webhookID, string(DeliveryPending), now.UTC(), now.UTC()); err != nil {
			return translate(err, "due webhook delivery")
		}
		if _, err := tx.ExecContext(ctx, `
UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, last_attempt_at = ? WHERE id = ?`,
			owner, until.UTC(), now.UTC(), id); err != nil {
			return fmt.Errorf("leasing webhook delivery %s: %w", id, err)
		}
		return sqlx.GetContext(ctx, tx, &d, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id)
	})
	return d, err
}

// DeliveryOutcome is what one attempt found.
type DeliveryOutcome struct {
	Delivered  bool
	StatusCode int // 0 when no HTTP answer came
	// Error says what went wrong, without secrets; empty when delivered.
	Error string
	// RetryAt is the next attempt; nil gives up (the delivery fails).
	RetryAt *time.Time
}

// RecordAttempt writes the outcome of owner's attempt and releases its lease;
// ErrLeaseLost when the lease was taken meanwhile (another replica's attempt
// will record its own).
func (s *Store) RecordAttempt(ctx context.Context, deliveryID, owner string, o DeliveryOutcome) error {
	status, next := DeliveryPending, s.timestamp()
	switch {
	case o.Delivered:
		status = DeliveryDelivered
	case o.RetryAt == nil:
		status = DeliveryFailed
	default:
		next = o.RetryAt.UTC()
	}
	return s.inUntrackedTx(ctx, func(tx writeTx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status_code = ?, last_error = ?, lease_owner = NULL, lease_until = NULL
WHERE id = ? AND lease_owner = ?`, string(status), next, o.StatusCode, storable(o.Error), deliveryID, owner)
		if err != nil {
			return fmt.Errorf("recording the attempt of webhook delivery %s: %w", deliveryID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(ErrLeaseLost, err)
		}
		return nil
	})
}

// Deliveries lists a page of an endpoint's deliveries, newest first (page.After
// is the ID of the last delivery of the previous page).
func (s *Store) Deliveries(ctx context.Context, webhookID string, page Page) ([]Delivery, error) {
	if _, err := s.webhookInTx(ctx, s.reader(), webhookID); err != nil {
		return nil, err
	}
	query, args := `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = ?`, []any{webhookID}
	if page.After != "" {
		query += ` AND id < ?`
		args = append(args, page.After)
	}
	var out []Delivery
	if err := sqlx.SelectContext(ctx, s.reader(), &out, query+` ORDER BY id DESC LIMIT ?`, append(args, page.Limit)...); err != nil {
		return nil, fmt.Errorf("listing the deliveries of webhook %s: %w", webhookID, err)
	}
	return out, nil
}

// Redeliver makes a delivery due now again, whatever its status, keeping its
// message (and so its webhook-id). While an attempt holds it, ErrInUse: that
// attempt's outcome would overwrite the request.
func (s *Store) Redeliver(ctx context.Context, deliveryID string) (Delivery, error) {
	var d Delivery
	err := s.inUntrackedTx(ctx, func(tx writeTx) error {
		what := fmt.Sprintf("webhook delivery %s", deliveryID)
		now := s.timestamp()
		if err := sqlx.GetContext(ctx, tx, &d, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, deliveryID); err != nil {
			return translate(err, what)
		}
		res, err := tx.ExecContext(ctx, `
UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?
WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)`, string(DeliveryPending), now, deliveryID, now)
		if err != nil {
			return fmt.Errorf("redelivering %s: %w", deliveryID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(fmt.Errorf("%s is being attempted now; redeliver it once the attempt is recorded: %w", what, ErrInUse), err)
		}
		return sqlx.GetContext(ctx, tx, &d, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, deliveryID)
	})
	return d, err
}

// OldestPendingDelivery is when the oldest delivery still pending was queued;
// nil when none is.
func (s *Store) OldestPendingDelivery(ctx context.Context) (*time.Time, error) {
	var oldest time.Time
	err := sqlx.GetContext(ctx, s.reader(), &oldest, `SELECT created_at FROM webhook_deliveries WHERE status = ? ORDER BY created_at LIMIT 1`, string(DeliveryPending))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finding the oldest pending delivery: %w", err)
	}
	oldest = oldest.UTC()
	return &oldest, nil
}
