package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

// A webhook attempt in flight at SIGTERM records its outcome before the
// database closes: the message is not sent again after a clean shutdown.
func TestAWebhookAttemptInFlightAtShutdownIsRecorded(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(1500 * time.Millisecond) // answering while the daemon is told to stop
		w.WriteHeader(http.StatusNoContent)
	}))
	defer endpoint.Close()
	dir := t.TempDir()
	d, stop := runDaemon(t, noEnv, dir, "--webhook-timeout", "5s")
	conn, ctx := dialAsAdmin(t, d, dir)
	admin := adminv1.NewAdminServiceClient(conn)
	hook, err := admin.CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: endpoint.URL, EventTypes: []string{"integration.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Halo"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery")
	}
	if err := stop(); err != nil { // SIGTERM while the endpoint is answering
		t.Fatalf("shutdown: %v", err)
	}
	d, _ = runDaemon(t, noEnv, dir)
	conn, ctx = dialAsAdmin(t, d, dir)
	resp, err := adminv1.NewAdminServiceClient(conn).ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetWebhook().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range resp.GetDeliveries() {
		if dl.GetStatus() != adminv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED {
			t.Errorf("the attempt in flight at SIGTERM (answered 204) was not recorded: %v", dl.GetStatus())
		}
	}
}
