package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testutil"
)

// An admin manages webhooks from the command line: create (the secret shown
// once), list without it, test, deliveries, redeliver, delete.
func TestWebhooksThroughTheCommandLine(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	var created struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
		Secret string `json:"secret"`
	}
	out := mustCtl(t, env, "", "webhooks", "create", "https://hooks.example/bifrost", "--type", "token.needs_reauth", "--type", "token.recovered", "-o", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Webhook.ID == "" || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("webhooks create -o json: %v\n%s", err, out)
	}
	list := mustCtl(t, env, "", "webhooks", "list")
	if !strings.Contains(list, created.Webhook.ID) || !strings.Contains(list, "token.needs_reauth") || strings.Contains(list, created.Secret) {
		t.Fatalf("webhooks list:\n%s", list)
	}
	test := mustCtl(t, env, "", "webhooks", "test", created.Webhook.ID)
	if !strings.Contains(test, "webhook.test") || !strings.Contains(test, "PENDING") {
		t.Fatalf("webhooks test:\n%s", test)
	}
	var deliveries struct {
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "webhooks", "deliveries", created.Webhook.ID, "-o", "json")), &deliveries); err != nil || len(deliveries.Deliveries) != 1 {
		t.Fatalf("webhooks deliveries: %+v, %v", deliveries, err)
	}
	mustCtl(t, env, "", "webhooks", "redeliver", deliveries.Deliveries[0].ID)
	mustCtl(t, env, "", "webhooks", "delete", created.Webhook.ID)
	if list := mustCtl(t, env, "", "webhooks", "list"); strings.Contains(list, created.Webhook.ID) {
		t.Fatalf("deleted webhook still listed:\n%s", list)
	}
	if _, err := ctl(t, env, "", "webhooks", "create", "ftp://hooks.example/x"); err == nil {
		t.Fatal("webhooks create with an ftp URL succeeded")
	}
}
