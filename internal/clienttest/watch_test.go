package clienttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bifrost/integrations/client"
	"github.com/bifrost/integrations/internal/testutil"
)

// A Watch whose connection breaks (the network drops, a replica goes) opens
// the stream again and resumes after the last event it handled: every event
// once, in order, none missed, also those written while it was cut off.
func TestWatchResumesAfterItsConnectionBreaksWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	seed(t, env)
	addr, stop := env.ServeTCP(t)
	defer stop()
	proxy := testutil.StartProxy(t, addr)
	watcher, err := client.New(proxy.Addr(), client.WithAPIKey(env.AdminKey), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	writer, err := client.New(addr, client.WithAPIKey(env.AdminKey), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var positions []int64
	handled := func() int { mu.Lock(); defer mu.Unlock(); return len(positions) }
	zero := int64(0)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, client.WatchOptions{After: &zero, Types: []string{"mapping.upserted"}}, func(e client.Event) error {
			mu.Lock()
			defer mu.Unlock()
			positions = append(positions, e.Position)
			return nil
		})
	}()
	const writes = 40
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := writer.UpsertMapping(ctx, "HaloPSA", client.Upsert{OrgID: fmt.Sprintf("org-%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, writes/2)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := handled(); n < writes/2 {
			return fmt.Errorf("%d of %d events handled before the cut", n, writes/2)
		}
		return nil
	})
	proxy.Cut()
	write(writes/2, writes)
	proxy.Restore()
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := handled(); n < writes {
			return fmt.Errorf("%d of %d events handled", n, writes)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Fatalf("positions %v: an event came twice or out of order", positions)
		}
	}
	if len(positions) != writes {
		t.Fatalf("%d events handled, want %d", len(positions), writes)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v after its context ended", err)
	}
}

// A watch the service refuses (an unknown event type) returns at once, and
// handle's error ends the watch with that error.
func TestWatchReturnsARefusalAndTheHandlersError(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	seed(t, env)
	addr, stop := env.ServeTCP(t)
	defer stop()
	c, err := client.New(addr, client.WithAPIKey(env.AdminKey), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Watch(ctx, client.WatchOptions{Types: []string{"token.stolen"}}, func(client.Event) error { return nil }); err == nil || ctx.Err() != nil {
		t.Fatalf("Watch with an unknown type = %v, want the refusal before the deadline", err)
	}
	stopped := errors.New("enough")
	zero := int64(0)
	if err := c.Watch(ctx, client.WatchOptions{After: &zero}, func(client.Event) error { return stopped }); !errors.Is(err, stopped) {
		t.Fatalf("Watch = %v, want the handler's error", err)
	}
}
