package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/internal/webhooktest"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/webhook"
)

// watch is a WatchEvents stream read on its own goroutine.
type watch struct {
	first  *integrationsv1.WatchEventsResponse
	mu     sync.Mutex
	events []*integrationsv1.Event
	err    error
	cancel context.CancelFunc
}

func startWatch(t *testing.T, c integrationsv1.IntegrationsServiceClient, req *integrationsv1.WatchEventsRequest) (*watch, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.WatchEvents(ctx, req)
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	w := &watch{first: first, cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		for {
			resp, err := stream.Recv()
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			if resp.GetEvent() != nil {
				w.events = append(w.events, resp.GetEvent())
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *watch) seen() []*integrationsv1.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*integrationsv1.Event(nil), w.events...)
}

// waitFor waits until the stream has seen an event of type typ, and returns it.
func (w *watch) waitFor(t *testing.T, typ string) *integrationsv1.Event {
	t.Helper()
	var found *integrationsv1.Event
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, e := range w.seen() {
			if e.GetType() == typ {
				found = e
				return nil
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return fmt.Errorf("no %s event among %d (stream error: %v)", typ, len(w.events), w.err)
	})
	return found
}

// runDispatcher delivers the webhooks of env's database until the test ends.
func runDispatcher(t *testing.T, env *testutil.Env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := webhook.New(env.Store, webhook.Options{PollInterval: 20 * time.Millisecond, FirstRetry: 50 * time.Millisecond, MaxRetryInterval: 200 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// subscribe creates a webhook to r for types and gives r its secret.
func subscribe(t *testing.T, admin adminv1.AdminServiceClient, r *webhooktest.Receiver, types ...string) *adminv1.Webhook {
	t.Helper()
	resp, err := admin.CreateWebhook(context.Background(), &adminv1.CreateWebhookRequest{Url: r.URL(), EventTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.GetSecret(), "whsec_") {
		t.Fatalf("secret %q is not whsec_...", resp.GetSecret())
	}
	r.SetSecret(resp.GetSecret())
	return resp.GetWebhook()
}

type webhookBody struct {
	Type string `json:"type"`
	Data struct {
		ID       string `json:"id"`
		Position int64  `json:"position"`
		Type     string `json:"type"`
		OrgID    string `json:"org_id"`
		Status   string `json:"status"`
	} `json:"data"`
}

// received returns r's verified messages of type typ, failing on any that
// did not verify.
func received(t *testing.T, r *webhooktest.Receiver, typ string) []webhookBody {
	t.Helper()
	var out []webhookBody
	for _, m := range r.Messages() {
		if !m.Verified {
			t.Fatalf("message %s did not verify with the reference library: %s", m.ID, m.VerifyError)
		}
		var b webhookBody
		if err := json.Unmarshal(m.Body, &b); err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		if m.ID != b.Data.ID {
			t.Fatalf("webhook-id %s is not the event's ID %s", m.ID, b.Data.ID)
		}
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func waitReceived(t *testing.T, r *webhooktest.Receiver, typ string, n int) []webhookBody {
	t.Helper()
	var got []webhookBody
	testutil.Eventually(t, 10*time.Second, func() error {
		if got = received(t, r, typ); len(got) < n {
			return fmt.Errorf("%d %s messages, want %d", len(got), typ, n)
		}
		return nil
	})
	return got
}

func TestInvalidGrantSendsOneSignedWebhookAndAWatchEventThenTheRecovery(t *testing.T) {
	t.Parallel()
	webhooktest.Available(t)
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	receiver := webhooktest.NewReceiver(t)
	subscribe(t, f.admin, receiver, "token.needs_reauth", "token.recovered")
	runDispatcher(t, f.env)
	w, err := startWatch(t, f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")), &integrationsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}

	f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	f.provider.RevokeGrants()
	if o, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"}); err != nil || o.GetStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH {
		t.Fatalf("after invalid_grant: %v, %v; want NEEDS_REAUTH", o, err)
	}
	event := w.waitFor(t, "token.needs_reauth")
	if event.GetOrganizationId() != "org-a" || event.GetConnectionName() != "graph" || event.GetTokenStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH || !strings.Contains(event.GetReason(), "invalid_grant") {
		t.Fatalf("event %v", event)
	}
	messages := waitReceived(t, receiver, "token.needs_reauth", 1)
	if messages[0].Data.ID != event.GetId() || messages[0].Data.Position != event.GetPosition() {
		t.Fatalf("webhook carries %+v, the stream saw %v", messages[0].Data, event)
	}

	f.putIssued(t, "org-a", time.Now().Add(time.Hour))
	recovered := w.waitFor(t, "token.recovered")
	if recovered.GetTokenStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED || recovered.GetPosition() <= event.GetPosition() {
		t.Fatalf("recovery event %v after %v", recovered, event)
	}
	waitReceived(t, receiver, "token.recovered", 1)
	// One endpoint, one replica: messages go out in order, so the recovery
	// arriving means no second needs_reauth message is on its way.
	if n := len(received(t, receiver, "token.needs_reauth")); n != 1 {
		t.Fatalf("%d needs_reauth messages, want exactly one", n)
	}
}

func TestWatchOfOneOrganizationSeesNothingOfAnother(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	orgA := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	zero := int64(0)
	var watches []*watch
	for _, req := range []*integrationsv1.WatchEventsRequest{
		{},
		{AfterPosition: &zero},
		{Types: []string{"mapping.upserted", "mapping.deleted", "token.put", "token.disconnected", "key.rotated"}},
		{IntegrationName: "Microsoft_Graph", AfterPosition: &zero},
		{OrgId: "org-a"},
	} {
		w, err := startWatch(t, orgA, req)
		if err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		watches = append(watches, w)
	}
	for _, req := range []*integrationsv1.WatchEventsRequest{{OrgId: "org-b"}, {OrgId: "org-b", IntegrationName: "Microsoft_Graph", AfterPosition: &zero}} {
		_, err := startWatch(t, orgA, req)
		wantCode(t, err, codes.PermissionDenied)
	}
	_, err := startWatch(t, orgA, &integrationsv1.WatchEventsRequest{Types: []string{"token.stolen"}})
	wantCode(t, err, codes.InvalidArgument)

	admin := f.env.Integrations(t, f.env.AdminKey)
	for _, org := range []string{"org-b", "org-a"} {
		if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: org, EntityId: "tenant-" + org}); err != nil {
			t.Fatal(err)
		}
		tok := f.putToken(t, org+"-x", "access-"+org, "")
		if _, err := f.admin.DeleteToken(ctx, &adminv1.DeleteTokenRequest{Id: tok.GetId()}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Microsoft_Graph", OrgId: org}); err != nil {
			t.Fatal(err)
		}
	}
	f.putToken(t, "org-b", "access-b-2", "")
	if _, err := f.admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	for i, w := range watches {
		// The last write is org-a's: once a stream that wants it has it, it
		// has had every event before it.
		if i != 3 {
			w.waitFor(t, "mapping.upserted")
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			for _, e := range w.seen() {
				if e.GetIntegrationName() == "Plain" {
					return nil
				}
			}
			if i == 3 {
				return nil // filtered to Microsoft_Graph: the deletion of org-a's mapping is its last
			}
			return errors.New("org-a's last write not seen yet")
		})
		for _, e := range w.seen() {
			if e.GetOrganizationId() != "org-a" && e.GetOrganizationId() != "" || strings.HasPrefix(e.GetType(), "key.") {
				t.Fatalf("watch %d of org-a's worker saw %v", i, e)
			}
		}
	}

	allOrgs := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, ""))
	w, err := startWatch(t, allOrgs, &integrationsv1.WatchEventsRequest{OrgId: "org-b", AfterPosition: &zero})
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "mapping.deleted")
	for _, e := range w.seen() {
		if e.GetOrganizationId() != "org-b" {
			t.Fatalf("a watch of org-b saw %v", e)
		}
	}
}

func TestWatchResumesAfterItsCursorWithoutGapOrDuplicateUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	head, err := startWatch(t, admin, &integrationsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	start := head.first.GetHeadPosition()
	head.cancel()

	const writers, writes = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range writes {
				if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: fmt.Sprintf("org-%d", i), EntityName: fmt.Sprint(j)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Read a few events at a time while the writes go on, resuming each time
	// from the last position handled.
	cursor := start
	var positions []int64
	for len(positions) < writers*writes {
		streamCtx, cancel := context.WithCancel(ctx)
		stream, err := admin.WatchEvents(streamCtx, &integrationsv1.WatchEventsRequest{AfterPosition: &cursor})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		for n := 0; n < 7 && len(positions) < writers*writes; {
			resp, err := stream.Recv()
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			if e := resp.GetEvent(); e != nil {
				positions = append(positions, e.GetPosition())
				cursor = e.GetPosition()
				n++
			}
		}
		cancel()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, p := range positions {
		if p != start+int64(i)+1 {
			t.Fatalf("event %d has position %d, want %d: a gap or a duplicate", i, p, start+int64(i)+1)
		}
	}
}

func TestWebhookToAnEndpointThatWasDownArrivesWhenItIsBackUnderTheSameID(t *testing.T) {
	t.Parallel()
	webhooktest.Available(t)
	f := newFixture(t)
	ctx := context.Background()
	receiver := webhooktest.NewReceiver(t)
	receiver.SetDown(true)
	hook := subscribe(t, f.admin, receiver, "mapping.upserted")
	runDispatcher(t, f.env)
	if _, err := f.env.Integrations(t, f.env.AdminKey).UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := receiver.Refused(); n < 3 {
			return fmt.Errorf("%d attempts while down, want 3", n)
		}
		return nil
	})
	receiver.SetDown(false)
	got := waitReceived(t, receiver, "mapping.upserted", 1)
	deliveries, err := f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var d *adminv1.WebhookDelivery
	testutil.Eventually(t, 5*time.Second, func() error {
		deliveries, err = f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetId()})
		if err != nil {
			return err
		}
		if len(deliveries.GetDeliveries()) != 1 || deliveries.GetDeliveries()[0].GetStatus() != adminv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED {
			return fmt.Errorf("deliveries %v", deliveries.GetDeliveries())
		}
		d = deliveries.GetDeliveries()[0]
		return nil
	})
	if d.GetMessageId() != got[0].Data.ID || d.GetAttempts() < 4 || d.GetLastStatusCode() != 204 {
		t.Fatalf("delivery %v, message %+v: want one message under the event's ID after at least 4 attempts", d, got[0].Data)
	}

	// Redelivery sends the same message again, under the same ID.
	if _, err := f.admin.RedeliverWebhook(ctx, &adminv1.RedeliverWebhookRequest{DeliveryId: d.GetId()}); err != nil {
		t.Fatal(err)
	}
	again := waitReceived(t, receiver, "mapping.upserted", 2)
	if again[1].Data.ID != again[0].Data.ID {
		t.Fatalf("redelivered under %s, first sent under %s", again[1].Data.ID, again[0].Data.ID)
	}
	if _, err := f.admin.SendTestWebhook(ctx, &adminv1.SendTestWebhookRequest{Id: hook.GetId()}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, m := range receiver.Messages() {
			if strings.Contains(string(m.Body), `"type":"webhook.test"`) && m.Verified {
				return nil
			}
		}
		return errors.New("no verified webhook.test message")
	})
}

func TestWebhookRequestsAreCheckedAndNeedAnAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, req := range []*adminv1.CreateWebhookRequest{
		{},
		{Url: "ftp://example.com/hook"},
		{Url: "https://user:pass@example.com/hook"},
		{Url: "https://example.com/hook", EventTypes: []string{"token.stolen"}},
	} {
		_, err := f.admin.CreateWebhook(ctx, req)
		wantCode(t, err, codes.InvalidArgument)
	}
	_, err := f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: "no-such-webhook"})
	wantCode(t, err, codes.NotFound)
	worker := adminv1.NewAdminServiceClient(f.env.Conn(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, "")))
	_, err = worker.CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: "https://example.com/hook"})
	wantCode(t, err, codes.PermissionDenied)
}

// No secret the service holds (client secret, access and refresh tokens,
// secret config values) appears in an event, a webhook body or a delivery.
func TestNoSecretInEventsWebhookBodiesOrDeliveries(t *testing.T) {
	t.Parallel()
	webhooktest.Available(t)
	f := newFixture(t)
	ctx := context.Background()
	receiver := webhooktest.NewReceiver(t)
	hook := subscribe(t, f.admin, receiver)
	runDispatcher(t, f.env)
	admin := f.env.Integrations(t, f.env.AdminKey)
	w, err := startWatch(t, admin, &integrationsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "SECRET-MARKER-7f3a"
	if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-s", Config: mustStruct(t, map[string]any{"api_key": marker + "-config"})}); err != nil {
		t.Fatal(err)
	}
	tok := f.putToken(t, "org-s", marker+"-access", marker+"-refresh")
	if _, err := f.admin.UpdateConnection(ctx, &adminv1.UpdateConnectionRequest{Connection: &adminv1.Connection{Name: "graph", ClientSecret: marker + "-client"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"client_secret"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.DeleteToken(ctx, &adminv1.DeleteTokenRequest{Id: tok.GetId()}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "token.disconnected")
	waitReceived(t, receiver, "token.disconnected", 1)
	var seen strings.Builder
	for _, e := range w.seen() {
		seen.WriteString(protojson.Format(e))
	}
	for _, m := range receiver.Messages() {
		seen.Write(m.Body)
	}
	deliveries, err := f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	seen.WriteString(protojson.Format(deliveries))
	if len(w.seen()) < 4 || len(receiver.Messages()) < 4 {
		t.Fatalf("%d events and %d messages, want the 4 changes", len(w.seen()), len(receiver.Messages()))
	}
	if strings.Contains(seen.String(), marker) {
		t.Fatalf("a secret is in an event, webhook body or delivery:\n%s", seen.String())
	}
}

// Replicas on one database: a refresh on any of them writes one event, and
// each endpoint gets it once, though every replica runs a dispatcher.
func TestReplicasWriteOneEventAndDeliverItOncePerEndpoint(t *testing.T) {
	t.Parallel()
	webhooktest.Available(t)
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	replicas := []*testutil.Env{f.env}
	for range 2 {
		opts := oauth.Options{HTTPClient: f.provider.Server.Client()}
		replicas = append(replicas, testutil.StartReplica(t, f.env, opts))
	}
	receivers := []*webhooktest.Receiver{webhooktest.NewReceiver(t), webhooktest.NewReceiver(t)}
	var hooks []*adminv1.Webhook
	for _, r := range receivers {
		hooks = append(hooks, subscribe(t, f.admin, r, "token.needs_reauth", "token.put"))
	}
	for _, env := range replicas {
		runDispatcher(t, env)
	}
	f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	f.provider.RevokeGrants()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api := replicas[i%len(replicas)].Integrations(t, f.env.AdminKey)
			_, _ = api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		}()
	}
	wg.Wait()
	zero := int64(0)
	w, err := startWatch(t, replicas[2].Integrations(t, f.env.AdminKey), &integrationsv1.WatchEventsRequest{AfterPosition: &zero, Types: []string{"token.needs_reauth"}})
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "token.needs_reauth")
	for i, r := range receivers {
		waitReceived(t, r, "token.needs_reauth", 1)
		waitReceived(t, r, "token.put", 1)
		// Every delivery done: a second copy, were there one, has arrived.
		testutil.Eventually(t, 10*time.Second, func() error {
			list, err := f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hooks[i].GetId()})
			if err != nil {
				return err
			}
			for _, d := range list.GetDeliveries() {
				if d.GetStatus() != adminv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED {
					return fmt.Errorf("delivery %v", d)
				}
			}
			return nil
		})
		if n := len(received(t, r, "token.needs_reauth")); n != 1 {
			t.Fatalf("endpoint %d got %d needs_reauth messages, want 1", i, n)
		}
	}
	if n := len(w.seen()); n != 1 {
		t.Fatalf("%d needs_reauth events, want 1", n)
	}
}

func TestWatchFromAPositionPastTheHeadIsInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	far := int64(1 << 40)
	_, err := startWatch(t, f.env.Integrations(t, f.env.AdminKey), &integrationsv1.WatchEventsRequest{AfterPosition: &far})
	wantCode(t, err, codes.InvalidArgument)
}
