package daemonlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bifrost/integrations/internal/daemonlog"
)

func TestWaitServingReturnsTheAddressesOnceTheLineIsWritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "integrationsd.log")
	if err := os.WriteFile(path, []byte("not json\n{\"msg\":\"starting\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond) // not a poll: the line comes after WaitServing has started reading
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		_, _ = f.WriteString(`{"level":"INFO","msg":"integrationsd serving","grpc":"127.0.0.1:4001","http":"127.0.0.1:4002"}` + "\n")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := daemonlog.WaitServing(ctx, path)
	if err != nil || got != (daemonlog.Addresses{GRPC: "127.0.0.1:4001", HTTP: "127.0.0.1:4002"}) {
		t.Fatalf("WaitServing = %+v, %v", got, err)
	}
}

func TestWaitServingGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "never-written.log")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := daemonlog.WaitServing(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitServing on a log that never says it serves: %v", err)
	}
}
