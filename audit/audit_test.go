package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/store"
)

// gatedWriter stores batches, but only while its gate is open, and can fail a
// number of times first.
type gatedWriter struct {
	mu       sync.Mutex
	gate     chan struct{}
	failures atomic.Int32
	events   []store.AuditEvent
	batches  int
}

func (w *gatedWriter) InsertAuditEvents(_ context.Context, events []store.AuditEvent) error {
	<-w.gate
	if w.failures.Add(-1) >= 0 {
		return errors.New("database down")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, events...)
	w.batches++
	return nil
}

func TestFullQueueMakesCallersWaitAndLosesNothing(t *testing.T) {
	t.Parallel()
	// In a bubble, the recorder's timers run on a fake clock, and
	// synctest.Wait says when every caller is either done or stuck.
	synctest.Test(t, func(t *testing.T) {
		w := &gatedWriter{gate: make(chan struct{})}
		w.failures.Store(2)
		r := audit.New(w, audit.Options{QueueSize: 4, BatchSize: 16, FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		const n = 200
		var recorded atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := r.Record(context.Background(), store.AuditEvent{Method: fmt.Sprint(i), Outcome: "OK"}); err != nil {
					t.Error(err)
				}
				recorded.Add(1)
			})
		}
		synctest.Wait() // every Record call that can return has returned
		if got := recorded.Load(); got >= n {
			t.Fatalf("all %d Record calls returned while the writer was stuck: no back-pressure", got)
		}
		// A caller whose deadline passes while the queue is full is told so.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := r.Record(ctx, store.AuditEvent{Method: "late"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Record on a full queue past its deadline: %v", err)
		}
		close(w.gate) // the database comes back (after two more failures)
		wg.Wait()
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range w.events {
			seen[e.Method] = true
			if e.ID == "" || e.Time.IsZero() {
				t.Fatalf("event without ID or time: %+v", e)
			}
		}
		for i := range n {
			if !seen[fmt.Sprint(i)] {
				t.Fatalf("event %d was lost", i)
			}
		}
		if w.batches >= n {
			t.Fatalf("%d batches for %d events: not batched", w.batches, n)
		}
		if err := r.Record(context.Background(), store.AuditEvent{}); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Record after Close: %v", err)
		}
	})
}

// downWriter is a database that is down: every write fails at once.
type downWriter struct{ attempts atomic.Int32 }

func (w *downWriter) InsertAuditEvents(ctx context.Context, _ []store.AuditEvent) error {
	w.attempts.Add(1)
	return errors.New("database down")
}

// While the database stays down, Close keeps the writer retrying only until
// its deadline, then says how many events were lost: a shutdown ends.
func TestCloseGivesUpAtItsDeadlineAndCountsTheLostEvents(t *testing.T) {
	t.Parallel()
	w := &downWriter{}
	r := audit.New(w, audit.Options{FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	for i := range 5 {
		if err := r.Record(context.Background(), store.AuditEvent{Method: fmt.Sprint(i), Outcome: "OK"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "5 audit events") {
		t.Fatalf("Close while the database is down: %v; want the deadline and 5 lost events", err)
	}
	if w.attempts.Load() < 2 {
		t.Fatalf("%d write attempts before giving up; want retries", w.attempts.Load())
	}
}

// The writer does not wait for its flush interval when a whole batch is
// queued, when the queue is full, nor when Close is called: all are written at
// once (the flush is an hour away, and each Record is given ten seconds).
func TestFullBatchFullQueueAndCloseAreWrittenWithoutWaitingForTheFlush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		queueSize, batchSize int
		// prompt events are recorded, and at least promptlyWritten of them
		// must be written before Close: with a full queue waking the writer,
		// the last queueSize may still wait.
		prompt, promptlyWritten int
	}{
		{name: "a whole batch queued", batchSize: 4, prompt: 4, promptlyWritten: 4},
		{name: "queue full before a batch is", queueSize: 4, batchSize: 16, prompt: 12, promptlyWritten: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			open := make(chan struct{})
			close(open)
			w := &gatedWriter{gate: open}
			r := audit.New(w, audit.Options{QueueSize: tc.queueSize, BatchSize: tc.batchSize, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			record := func(n int) {
				for i := range n {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := r.Record(ctx, store.AuditEvent{Method: fmt.Sprint(i), Outcome: "OK"})
					cancel()
					if err != nil {
						t.Fatalf("Record %d: %v", i, err)
					}
				}
			}
			written := func() int {
				w.mu.Lock()
				defer w.mu.Unlock()
				return len(w.events)
			}
			record(tc.prompt)
			testutil.Eventually(t, 10*time.Second, func() error {
				if n := written(); n < tc.promptlyWritten {
					return fmt.Errorf("%d of %d events written; the flush is an hour away", n, tc.promptlyWritten)
				}
				return nil
			})
			record(3)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Close(ctx); err != nil || written() != tc.prompt+3 {
				t.Fatalf("Close: %v with %d of %d events written", err, written(), tc.prompt+3)
			}
		})
	}
}

// recoveringWriter is a database that is down until up is set.
type recoveringWriter struct {
	up       atomic.Bool
	attempts atomic.Int32
	written  atomic.Int32
}

func (w *recoveringWriter) InsertAuditEvents(ctx context.Context, events []store.AuditEvent) error {
	w.attempts.Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	if !w.up.Load() {
		return errors.New("database down")
	}
	w.written.Add(int32(len(events)))
	return nil
}

// After an outage long enough for the writer to back off for over a second,
// a Close with a shorter deadline still writes what is queued: Close cuts the
// backoff short instead of waiting it out.
func TestCloseAfterAnOutageDoesNotWaitOutTheBackoff(t *testing.T) {
	t.Parallel()
	w := &recoveringWriter{}
	r := audit.New(w, audit.Options{FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err := r.Record(context.Background(), store.AuditEvent{Method: "m", Outcome: "OK"}); err != nil {
		t.Fatal(err)
	}
	// Waits of 10, 20, ... 640 ms: the eighth attempt starts a 1.28 s wait.
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := w.attempts.Load(); n < 8 {
			return fmt.Errorf("%d of 8 attempts", n)
		}
		return nil
	})
	w.up.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); err != nil || w.written.Load() != 1 {
		t.Fatalf("Close after the database came back: %v, %d of 1 events written", err, w.written.Load())
	}
}
