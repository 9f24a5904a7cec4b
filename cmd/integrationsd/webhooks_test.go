package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/daemonlog"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/internal/webhooktest"
	"github.com/bifrost/integrations/keyring"
)

// holdingReceiver holds the first request it gets until the test lets go,
// and answers the rest 204, recording each message.
type holdingReceiver struct {
	arrived chan struct{} // closed when the first request arrives
	release chan struct{}
	once    sync.Once

	mu       sync.Mutex
	messages []webhooktest.Message
}

func (h *holdingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.arrived)
		<-h.release
		return
	}
	h.mu.Lock()
	h.messages = append(h.messages, webhooktest.Message{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: body})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// A replica killed (SIGKILL) while it delivers a message loses nothing: the
// next replica on the database sends the message again, under the same
// webhook-id, once the dead replica's lease on it runs out.
func TestAWebhookMessageInFlightWhenItsReplicaIsKilledIsSentAgain(t *testing.T) {
	webhooktest.Available(t)
	db := testdb.Database(t)
	dir := t.TempDir()
	binary, err := integrationsdBinary()
	if err != nil {
		t.Fatal(err)
	}
	ringPath := filepath.Join(dir, "keyring.json")
	if _, err := keyring.CreateFile(ringPath); err != nil {
		t.Fatal(err)
	}
	// Both processes keep their data, and their log, in one place: the second
	// starts once the first is dead, and finds the first admin key there.
	launch := func(name string) (*exec.Cmd, string) {
		cmd, logPath := launchReplica(t, binary, dir, "data", "--db", db, "--keyring", ringPath,
			"--webhook-timeout", "1s", "--webhook-first-retry", "100ms")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		serving, err := daemonlog.WaitServing(ctx, logPath)
		if err != nil {
			content, _ := os.ReadFile(logPath)
			t.Fatalf("%s: %v; its log:\n%s", name, err, content)
		}
		return cmd, serving.GRPC
	}
	receiver := &holdingReceiver{arrived: make(chan struct{}), release: make(chan struct{})}
	endpoint := httptest.NewServer(receiver)
	t.Cleanup(endpoint.Close)
	t.Cleanup(func() {
		select {
		case <-receiver.release:
		default:
			close(receiver.release)
		}
	})

	first, addr := launch("first")
	key, err := os.ReadFile(filepath.Join(dir, "data", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(key)))
	admin := func(addr string) adminv1.AdminServiceClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return adminv1.NewAdminServiceClient(conn)
	}
	hook, err := admin(addr).CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: endpoint.URL + "/hooks", EventTypes: []string{"integration.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin(addr).CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Halo"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-receiver.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the first replica never sent the message")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	_, addr = launch("second")
	var got webhooktest.Message
	testutil.Eventually(t, 30*time.Second, func() error {
		receiver.mu.Lock()
		defer receiver.mu.Unlock()
		if len(receiver.messages) == 0 {
			return fmt.Errorf("the message was not sent again")
		}
		got = receiver.messages[0]
		return nil
	})
	if err := webhooktest.Verify(hook.GetSecret(), got.ID, got.Timestamp, got.Signature, got.Body); err != nil {
		t.Fatalf("the message sent again does not verify: %v", err)
	}
	deliveries, err := admin(addr).ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetWebhook().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if d := deliveries.GetDeliveries(); len(d) != 1 || d[0].GetMessageId() != got.ID || d[0].GetAttempts() < 2 {
		t.Fatalf("deliveries %v; want one, sent again under webhook-id %s", d, got.ID)
	}
}
