package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// A request of many bad event types (a worker's 1 MiB of empty strings) is
// refused with one short answer, not one violation per entry.
func TestAHugeListOfEventTypesIsRefusedInOneShortAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	worker := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	for name, types := range map[string][]string{
		"more entries than there are types": make([]string, 500_000),
		"every entry unknown":               strings.Split(strings.Repeat(strings.Repeat("x", 1000)+",", 15), ","),
	} {
		_, err := startWatch(t, worker, &integrationsv1.WatchEventsRequest{Types: types})
		st := wantCode(t, err, codes.InvalidArgument)
		if n := len(st.Message()); n > 8<<10 {
			t.Fatalf("%s: a %d-byte answer", name, n)
		}
	}
	_, err := f.admin.CreateWebhook(context.Background(), &adminv1.CreateWebhookRequest{Url: "https://hooks.example/x", EventTypes: make([]string, 100_000)})
	wantCode(t, err, codes.InvalidArgument)
}

// One key holds at most 16 event streams open: each reads the log whenever
// it moves, and thousands would slow every organization's reads.
func TestOneKeyHoldsABoundedNumberOfEventStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	worker := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	var open []*watch
	for range 16 {
		w, err := startWatch(t, worker, &integrationsv1.WatchEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, w)
	}
	_, err := startWatch(t, worker, &integrationsv1.WatchEventsRequest{})
	wantCode(t, err, codes.ResourceExhausted)
	// Another key of the same organization is not held back by it.
	if _, err := startWatch(t, f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")), &integrationsv1.WatchEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	open[0].cancel()
	testutil.Eventually(t, 5*time.Second, func() error {
		w, err := startWatch(t, worker, &integrationsv1.WatchEventsRequest{})
		if err == nil {
			w.cancel()
		}
		return err
	})
}

// A key revoked while its stream is open gets no event after the revocation:
// the stream ends UNAUTHENTICATED.
func TestARevokedKeysOpenStreamEnds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	resp, err := f.admin.CreateApiKey(ctx, &adminv1.CreateApiKeyRequest{Name: "leaked", Role: adminv1.Role_ROLE_WORKER, OrgId: "org-a"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := startWatch(t, f.env.Integrations(t, resp.GetSecret()), &integrationsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RevokeApiKey(ctx, &adminv1.RevokeApiKeyRequest{Id: resp.GetApiKey().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Integrations(t, f.env.AdminKey).UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if status.Code(w.err) != codes.Unauthenticated {
			return fmt.Errorf("stream error %v, want UNAUTHENTICATED", w.err)
		}
		return nil
	})
	for _, e := range w.seen() {
		if e.GetType() == "mapping.upserted" {
			t.Fatalf("the revoked key's stream got %v", e)
		}
	}
}

// A provider whose error description echoes the refresh token it was sent
// (or the client secret) does not put it in events, status messages or
// logs: it is replaced before anything records the description.
func TestAProviderEchoingASecretInItsErrorDoesNotLeakIt(t *testing.T) {
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	w, err := startWatch(t, f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")), &integrationsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, refresh := f.putIssued(t, "org-a", time.Now().Add(2*time.Minute))
	f.provider.RevokeGrantsSaying("refresh token " + refresh + " of client secret " + f.provider.ClientSecret + " is expired")
	o, _ := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
	e := w.waitFor(t, "token.needs_reauth")
	for where, text := range map[string]string{"event reason": e.GetReason(), "status message": o.GetStatusMessage(), "logs": f.env.Logs.String()} {
		if strings.Contains(text, refresh) || strings.Contains(text, f.provider.ClientSecret) {
			t.Fatalf("the %s carries a secret the provider echoed: %q", where, text)
		}
	}
	if !strings.Contains(e.GetReason(), "[redacted]") {
		t.Fatalf("event reason %q", e.GetReason())
	}
}

// after_position 0 means every event retained, also once retention has
// deleted the oldest.
func TestWatchFromZeroStartsAtTheOldestEventRetained(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Store.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-new"}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	w, err := startWatch(t, admin, &integrationsv1.WatchEventsRequest{AfterPosition: &zero, Types: []string{"mapping.upserted"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := w.waitFor(t, "mapping.upserted"); e.GetOrganizationId() != "org-new" {
		t.Fatalf("first event %v, want org-new's (org-old's was pruned)", e)
	}
}

// Redelivering a delivery while an attempt of it runs is refused: the
// attempt's outcome would overwrite the request and nothing be sent again.
func TestRedeliverDuringAnAttemptIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(endpoint.Close)
	t.Cleanup(func() { close(release) })
	hook, err := f.admin.CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: endpoint.URL + "/hook", EventTypes: []string{"mapping.upserted"}})
	if err != nil {
		t.Fatal(err)
	}
	runDispatcher(t, f.env)
	if _, err := f.env.Integrations(t, f.env.AdminKey).UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	<-arrived
	list, err := f.admin.ListWebhookDeliveries(ctx, &adminv1.ListWebhookDeliveriesRequest{WebhookId: hook.GetWebhook().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.admin.RedeliverWebhook(ctx, &adminv1.RedeliverWebhookRequest{DeliveryId: list.GetDeliveries()[0].GetId()})
	wantCode(t, err, codes.FailedPrecondition)
}

// Deleting a connection or an integration tells each organization that lost
// a token or a mapping with it.
func TestDeletingAConnectionOrIntegrationTellsEachOrganization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	for _, org := range []string{"org-x", "org-y"} {
		if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: org}); err != nil {
			t.Fatal(err)
		}
	}
	watchOf := func(org string, typ string) *watch {
		w, err := startWatch(t, f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, org)), &integrationsv1.WatchEventsRequest{Types: []string{typ}})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	mappingsX, mappingsY, tokensA := watchOf("org-x", "mapping.deleted"), watchOf("org-y", "mapping.deleted"), watchOf("org-a", "token.disconnected")
	if _, err := f.admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "Plain"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*watch{mappingsX, mappingsY} {
		if e := w.waitFor(t, "mapping.deleted"); e.GetIntegrationName() != "Plain" || e.GetReason() != "integration deleted" {
			t.Fatalf("event %v", e)
		}
	}
	if _, err := f.admin.DeleteIntegration(ctx, &adminv1.DeleteIntegrationRequest{Name: "Microsoft_Graph"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.DeleteConnection(ctx, &adminv1.DeleteConnectionRequest{Name: "graph"}); err != nil {
		t.Fatal(err)
	}
	if e := tokensA.waitFor(t, "token.disconnected"); e.GetConnectionName() != "graph" || e.GetReason() != "connection deleted" {
		t.Fatalf("event %v", e)
	}
}

// A webhook URL must be one the dispatcher can call as it is.
func TestAWebhookURLMustBeCallableAsItIs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, url := range []string{"https://{entity_id}.example.com/hook", "https://hooks.example/x#frag", "/relative"} {
		_, err := f.admin.CreateWebhook(context.Background(), &adminv1.CreateWebhookRequest{Url: url})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("CreateWebhook(%q) = %v, want INVALID_ARGUMENT", url, err)
		}
	}
}
