package periodic_test

import (
	"context"
	"testing"
	"time"

	"github.com/bifrost/integrations/internal/periodic"
)

// The task runs at once and again at each interval, and Run returns once its
// context ends.
func TestRunCallsTheTaskNowAndEveryIntervalUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan struct{}, 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		periodic.Run(ctx, time.Millisecond, func(context.Context) {
			select {
			case calls <- struct{}{}:
			default: // the test has seen enough calls
			}
		})
	}()
	for range 3 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("the task was not called again")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A long interval does not delay the first run.
func TestRunCallsTheTaskBeforeTheFirstInterval(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	called := make(chan struct{})
	go periodic.Run(ctx, time.Hour, func(context.Context) {
		close(called)
		cancel()
	})
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the first run waited for the interval")
	}
}
