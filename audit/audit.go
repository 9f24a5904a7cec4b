// Package audit records who got which secret and who changed what, without ever
// losing an event: a bounded queue that makes callers wait when full, drained by
// one writer in batches.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bifrost/integrations/internal/periodic"
	"github.com/bifrost/integrations/store"
)

// Writer is where batches go.
type Writer interface {
	InsertAuditEvents(ctx context.Context, events []store.AuditEvent) error
}

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	// QueueSize bounds events waiting to be written (default 4096).
	QueueSize int
	// BatchSize bounds one write (default 4096). Under load the flush interval
	// ends a batch first: one transaction per interval, not one per few
	// hundred events, since each transaction writes the b-trees' last, partly
	// filled pages and their parents again (integrations-bench -compare-with
	// measures what a smaller bound costs). The bound caps how long one write
	// holds SQLite's single writer.
	BatchSize int
	// FlushInterval is the longest an event waits for its batch (default
	// DefaultFlushInterval).
	FlushInterval time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// DefaultFlushInterval bounds how long an event waits in the queue, which is
// also what a killed process can lose: an event is queued, not written, when
// its call returns (a shutdown writes the queue). Under load a longer interval
// makes larger batches, each cheaper per event (BenchmarkInsertAuditEvents),
// but a longer interval measured no better in integrationsd
// (integrations-bench -compare-with).
const DefaultFlushInterval = 50 * time.Millisecond

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit recorder closed")

// Recorder queues events and writes them in batches. Record blocks while the
// queue is full: back-pressure instead of dropping.
type Recorder struct {
	w     Writer
	opts  Options
	queue chan store.AuditEvent
	// writing is cancelled when Close gives up waiting for the database.
	writing context.Context
	giveUp  context.CancelFunc
	lost    int // events dropped after giving up; the writer's, until done
	mu      sync.RWMutex
	closed  bool
	// closing is closed by Close, so that a writer backing off from a failed
	// write tries again at once: the database may be back.
	closing chan struct{}
	// full wakes the writer before its flush interval when a batch is queued.
	full chan struct{}
	done chan struct{}
}

// New starts a Recorder's writer.
func New(w Writer, opts Options) *Recorder {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4096
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	writing, giveUp := context.WithCancel(context.Background())
	r := &Recorder{w: w, opts: opts, queue: make(chan store.AuditEvent, opts.QueueSize), writing: writing, giveUp: giveUp, closing: make(chan struct{}), full: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues e, waiting while the queue is full until ctx ends.
func (r *Recorder) Record(ctx context.Context, e store.AuditEvent) error {
	if e.ID == "" {
		e.ID = store.NewAuditID()
	}
	if e.Time.IsZero() {
		e.Time = r.opts.Now()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	select {
	case r.queue <- e:
		if len(r.queue) >= r.opts.BatchSize {
			r.wakeWriter()
		}
		return nil
	default:
	}
	r.wakeWriter()
	select {
	case r.queue <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wakeWriter has the writer take what is queued now rather than at its next
// flush.
func (r *Recorder) wakeWriter() {
	select {
	case r.full <- struct{}{}:
	default:
	}
}

// Close writes what is queued and stops the writer. While the database is down
// the writer keeps retrying; once ctx ends, Close stops it and says how many
// events were never written, so that a shutdown ends even then.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
		close(r.closing)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.giveUp()
		<-r.done
	}
	r.giveUp()
	if r.lost > 0 {
		return fmt.Errorf("%d audit events were not written: %w", r.lost, context.Cause(ctx))
	}
	return nil
}

// run writes what is queued once every flush interval, or sooner when a
// batch is full. It does not wait on the queue itself: a writer blocked in a
// receive is woken by every event, a switch between goroutines per audited
// call.
func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]store.AuditEvent, 0, r.opts.BatchSize)
	timer := time.NewTimer(r.opts.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-r.full:
		case <-r.closing:
		}
		for {
			var closed bool
			batch, closed = r.take(batch[:0])
			r.write(batch)
			if closed {
				return
			}
			if len(batch) < r.opts.BatchSize {
				break
			}
		}
		timer.Reset(r.opts.FlushInterval)
	}
}

// take appends queued events to batch, up to a whole batch, without waiting for
// more; closed says the queue is closed and empty.
func (r *Recorder) take(batch []store.AuditEvent) (_ []store.AuditEvent, closed bool) {
	for len(batch) < r.opts.BatchSize {
		select {
		case e, ok := <-r.queue:
			if !ok {
				return batch, true
			}
			batch = append(batch, e)
		default:
			return batch, false
		}
	}
	return batch, false
}

// write retries a failed batch until it is stored: an audit log with holes is
// worse than a writer that waits for the database to come back. While it
// retries, the queue fills and callers feel the back-pressure. Only Close, at
// its deadline, makes it give up, counting what it drops. Close also cuts the
// wait in progress short once, so that a shutdown after an outage does not sit
// out a backoff of seconds before its last writes.
func (r *Recorder) write(batch []store.AuditEvent) {
	if len(batch) == 0 {
		return
	}
	const firstWait = 10 * time.Millisecond
	closing := r.closing
	for wait := firstWait; ; wait = min(2*wait, 5*time.Second) {
		err := r.w.InsertAuditEvents(r.writing, batch)
		if err == nil {
			return
		}
		if r.writing.Err() != nil {
			r.lost += len(batch)
			return
		}
		r.opts.Logger.Error("writing audit events failed; retrying", "events", len(batch), "error", err)
		select {
		case <-r.writing.Done():
		case <-closing:
			closing, wait = nil, firstWait/2 // back off from the start after this try
		case <-time.After(wait):
		}
	}
}

// Discard is a Writer that stores nothing. integrationsd uses it only in
// development mode when asked to, so that the benchmark can measure what the
// audit log costs.
type Discard struct{}

// InsertAuditEvents drops the events.
func (Discard) InsertAuditEvents(context.Context, []store.AuditEvent) error { return nil }

// Depth is how many events wait to be written.
func (r *Recorder) Depth() int { return len(r.queue) }

// Prune deletes events older than retention now and every interval after,
// until ctx ends.
func Prune(ctx context.Context, s interface {
	PruneAuditEvents(ctx context.Context, before time.Time) (int64, error)
}, retention, interval time.Duration, logger *slog.Logger) {
	periodic.Run(ctx, interval, func(ctx context.Context) {
		n, err := s.PruneAuditEvents(ctx, time.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			logger.Warn("pruning audit events", "error", err)
		} else if n > 0 {
			logger.Info("pruned audit events", "deleted", n, "retention", retention)
		}
	})
}
