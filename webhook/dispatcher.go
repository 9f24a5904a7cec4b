package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bifrost/integrations/store"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	// HTTPClient sends the messages; its redirects are not followed.
	HTTPClient *http.Client
	// AttemptTimeout bounds one attempt: 10 s.
	AttemptTimeout time.Duration
	// PollInterval is how often an endpoint with nothing due is checked
	// again, and the list of endpoints read: 500 ms.
	PollInterval time.Duration
	// FirstRetry is the wait after the first failed attempt, doubled after
	// each (with jitter) up to MaxRetryInterval: 5 s and 1 h.
	FirstRetry       time.Duration
	MaxRetryInterval time.Duration
	// GiveUpAfter is how long after its message was queued a delivery is
	// retried: 26 h, so that an endpoint down for a day still gets it.
	GiveUpAfter time.Duration
	// Metrics receives the delivery metrics; nil for none.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	client := *o.HTTPClient
	// A redirect would send the signed message somewhere the admin did not
	// name: the answer is taken as it is, a failure.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &client
	defaultTo(&o.AttemptTimeout, 10*time.Second)
	defaultTo(&o.PollInterval, 500*time.Millisecond)
	defaultTo(&o.FirstRetry, 5*time.Second)
	defaultTo(&o.MaxRetryInterval, time.Hour)
	defaultTo(&o.GiveUpAfter, 26*time.Hour)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func defaultTo(d *time.Duration, value time.Duration) {
	if *d <= 0 {
		*d = value
	}
}

// Dispatcher delivers the queued messages of every endpoint, each endpoint on
// its own goroutine so that a slow or dead one delays no other.
type Dispatcher struct {
	store *store.Store
	opts  Options
	owner string // this process, in delivery leases

	deliveries *prometheus.CounterVec
}

// New returns a Dispatcher over st; Run starts it.
func New(st *store.Store, opts Options) *Dispatcher {
	opts.defaults()
	d := &Dispatcher{store: st, opts: opts, owner: uuid.NewString(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bifrost_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, retrying (failed, will retry) or failed (gave up).",
		}, []string{"outcome"}),
	}
	if opts.Metrics != nil {
		oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bifrost_webhook_oldest_undelivered_seconds",
			Help: "Age of the oldest webhook message not yet delivered; 0 when none waits.",
		}, d.oldestUndelivered)
		for _, c := range []prometheus.Collector{d.deliveries, oldest} {
			if err := opts.Metrics.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
				opts.Logger.Warn("registering webhook metrics", "error", err)
			}
		}
	}
	return d
}

func (d *Dispatcher) oldestUndelivered() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	oldest, err := d.store.OldestPendingDelivery(ctx)
	if err != nil || oldest == nil {
		return 0
	}
	return time.Since(*oldest).Seconds()
}

// Run delivers until ctx ends: it keeps one goroutine per endpoint, started
// when the endpoint appears and stopped when it is deleted.
func (d *Dispatcher) Run(ctx context.Context) {
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(d.opts.PollInterval)
	defer ticker.Stop()
	for {
		hooks, err := d.store.WebhooksWithSecrets(ctx)
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.WarnContext(ctx, "listing webhooks", "error", err)
		}
		if err == nil {
			current := map[string]bool{}
			for _, w := range hooks {
				current[w.ID] = true
				if running[w.ID] != nil {
					continue
				}
				endpointCtx, stop := context.WithCancel(ctx)
				running[w.ID] = stop
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.serve(endpointCtx, w)
				}()
			}
			for id, stop := range running {
				if !current[id] {
					stop()
					delete(running, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// serve delivers w's due messages one at a time until ctx ends.
func (d *Dispatcher) serve(ctx context.Context, w store.Webhook) {
	for ctx.Err() == nil {
		now := time.Now()
		// The lease outlasts the attempt: it only runs out when this process
		// died during one, and then the message is sent again.
		delivery, err := d.store.ClaimDelivery(ctx, w.ID, d.owner, now, now.Add(d.opts.AttemptTimeout+d.opts.PollInterval+5*time.Second))
		switch {
		case err == nil:
			d.attempt(ctx, w, delivery)
			continue
		case errors.Is(err, store.ErrNotFound):
		case ctx.Err() == nil:
			d.opts.Logger.WarnContext(ctx, "claiming a webhook delivery", "webhook_id", w.ID, "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.opts.PollInterval):
		}
	}
}

// attempt sends one delivery and records how it went. A shutdown does not cut
// an attempt short: it is recorded, or its lease runs out and it is sent again.
func (d *Dispatcher) attempt(ctx context.Context, w store.Webhook, delivery store.Delivery) {
	ctx = context.WithoutCancel(ctx)
	outcome := d.send(ctx, w, delivery)
	label := "delivered"
	if !outcome.Delivered {
		if time.Since(delivery.CreatedAt) < d.opts.GiveUpAfter {
			retry := time.Now().Add(d.backoff(delivery.Attempts))
			outcome.RetryAt, label = &retry, "retrying"
		} else {
			label = "failed"
		}
		d.opts.Logger.InfoContext(ctx, "webhook delivery failed", "webhook_id", w.ID, "message_id", delivery.MessageID,
			"attempt", delivery.Attempts, "status_code", outcome.StatusCode, "error", outcome.Error, "outcome", label)
	}
	d.deliveries.WithLabelValues(label).Inc()
	if err := d.store.RecordAttempt(ctx, delivery.ID, d.owner, outcome); err != nil {
		d.opts.Logger.WarnContext(ctx, "recording a webhook delivery attempt", "webhook_id", w.ID, "message_id", delivery.MessageID, "error", err)
	}
}

// send posts the delivery's message, signed for this attempt.
func (d *Dispatcher) send(ctx context.Context, w store.Webhook, delivery store.Delivery) store.DeliveryOutcome {
	body := []byte(delivery.Payload)
	headers, err := Sign(w.Secret, delivery.MessageID, time.Now(), body)
	if err != nil {
		return store.DeliveryOutcome{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return store.DeliveryOutcome{Error: "the webhook URL does not make a request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bifrost-integrations-webhooks")
	req.Header.Set("webhook-id", headers.ID)
	req.Header.Set("webhook-timestamp", headers.Timestamp)
	req.Header.Set("webhook-signature", headers.Signature)
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		return store.DeliveryOutcome{Error: transportError(err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return store.DeliveryOutcome{Delivered: true, StatusCode: resp.StatusCode}
	}
	outcome := store.DeliveryOutcome{StatusCode: resp.StatusCode, Error: fmt.Sprintf("the endpoint answered %s", resp.Status)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		outcome.Error += " (redirects are not followed)"
	}
	return outcome
}

// transportError describes a failed request without its URL, which may hold
// a credential of the receiver's (a token in the query).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within the attempt's timeout"
	}
	return err.Error()
}

// backoff is the wait after attempt n failed: FirstRetry doubled n-1 times,
// capped, with up to a fifth taken off at random so that the retries of
// many messages spread out.
func (d *Dispatcher) backoff(n int) time.Duration {
	wait := d.opts.FirstRetry
	for i := 1; i < n && wait < d.opts.MaxRetryInterval; i++ {
		wait *= 2
	}
	wait = min(wait, d.opts.MaxRetryInterval)
	return wait - time.Duration(rand.Int64N(int64(wait)/5+1))
}
