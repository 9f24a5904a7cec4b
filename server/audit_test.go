package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// auditEvents waits (up to 5 s: the recorder writes in batches) for at least
// atLeast events matching req, and returns them all.
func auditEvents(t *testing.T, f *fixture, req *adminv1.ListAuditEventsRequest, atLeast int) []*adminv1.AuditEvent {
	t.Helper()
	var events []*adminv1.AuditEvent
	testutil.Eventually(t, 5*time.Second, func() error {
		resp, err := f.admin.ListAuditEvents(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if events = resp.GetEvents(); len(events) < atLeast {
			return fmt.Errorf("%d audit events matching %v, want at least %d: %v", len(events), req, atLeast, events)
		}
		return nil
	})
	return events
}

func TestAuditRecordsSecretReadsChangesAndDenialsWithoutSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	workerKey := f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a")
	worker := f.env.Integrations(t, workerKey)
	if _, err := worker.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", Config: mustStruct(t, map[string]any{"api_key": orgAAPIKey})}); err != nil {
		t.Fatal(err)
	}
	var header metadata.MD
	withID := metadata.AppendToOutgoingContext(ctx, "x-request-id", "req-123")
	if _, err := worker.GetIntegration(withID, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "req-123" {
		t.Fatalf("x-request-id header = %v", got)
	}
	// Reads without secrets are not audited; denied calls are.
	if _, err := worker.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Plain"}); err != nil {
		t.Fatal(err)
	}
	_, _ = worker.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-b"})
	_, _ = f.env.Integrations(t, "bfk_forged").GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"})

	events := auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: "Microsoft_Graph"}, 4)
	var byMethod = map[string]*adminv1.AuditEvent{}
	for _, e := range events {
		byMethod[e.GetMethod()+" "+e.GetOutcome()] = e
		text := protojson.Format(e)
		for _, secret := range []string{orgAAPIKey, orgAAccess, clientSecret, defaultAPIKey, workerKey, "bfk_forged"} {
			if strings.Contains(text, secret) {
				t.Fatalf("audit event holds secret %q: %s", secret, text)
			}
		}
	}
	read := byMethod["/bifrost.integrations.v1.IntegrationsService/GetIntegration OK"]
	if read == nil || read.GetOrgId() != "org-a" || read.GetRequestId() != "req-123" || read.GetApiKeyId() == "" ||
		read.GetRole() != adminv1.Role_ROLE_WORKER || read.GetDetail() != "returned secrets" {
		t.Fatalf("secret read event = %v (all: %v)", read, events)
	}
	if e := byMethod["/bifrost.integrations.v1.IntegrationsService/UpsertMapping OK"]; e == nil || e.GetOrgId() != "org-a" {
		t.Fatalf("change event = %v", e)
	}
	// A denied call is the caller's, not the organization it named: that one
	// is in the detail, and nobody fills another organization's log.
	if e := byMethod["/bifrost.integrations.v1.IntegrationsService/GetIntegration PermissionDenied"]; e == nil || e.GetOrgId() != "org-a" || e.GetDetail() != `asked for organization "org-b"` {
		t.Fatalf("denied event = %v", e)
	}
	if e := byMethod["/bifrost.integrations.v1.IntegrationsService/GetIntegration Unauthenticated"]; e == nil || e.GetApiKeyId() != "" {
		t.Fatalf("unauthenticated event = %v", e)
	}
	plain := auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: "Plain"}, 0)
	if len(plain) != 0 {
		t.Fatalf("a read without secrets was audited: %v", plain)
	}
}

// A read is audited when its answer holds any kind of secret, and only then.
func TestAReadIsAuditedWhenItsAnswerHoldsAnyKindOfSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct{ name, clientSecret string }{{"public", ""}, {"unconnected", ""}, {"confidential", "other-client-secret"}} {
		if _, err := f.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
			Name: c.name, Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: "client-" + c.name, ClientSecret: c.clientSecret,
			AuthorizationUrl: "https://login.example/authorize", TokenUrl: "https://login.example/token",
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "public", OrgId: "org-b", AccessToken: "public-access-token",
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	secretKey := []*adminv1.ConfigField{{Key: "api_key", Type: adminv1.ConfigType_CONFIG_TYPE_SECRET}}
	tests := []struct {
		integration *adminv1.Integration
		audited     bool
	}{
		{&adminv1.Integration{Name: "Secret_Config", ConfigSchema: secretKey, DefaultConfig: mustStruct(t, map[string]any{"api_key": "k"})}, true},
		{&adminv1.Integration{Name: "Access_Token", OauthConnection: "public"}, true},
		{&adminv1.Integration{Name: "Client_Secret", OauthConnection: "confidential"}, true},
		// A secret key without a value, a connection without a client secret
		// or a token.
		{&adminv1.Integration{Name: "Nothing_Secret", ConfigSchema: secretKey, OauthConnection: "unconnected"}, false},
		{&adminv1.Integration{Name: "No_Connection", ConfigSchema: secretKey}, false},
	}
	// A key for every organization: keys bound to one never get the client secret.
	worker := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER_ALL_ORGS, ""))
	for _, tt := range tests {
		if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: tt.integration}); err != nil {
			t.Fatal(err)
		}
		if _, err := worker.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: tt.integration.GetName(), OrgId: "org-b"}); err != nil {
			t.Fatal(err)
		}
	}
	// Events are written in order: once a later read's event is in, an earlier
	// one missing is missing for good.
	if _, err := worker.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-b"}); err != nil {
		t.Fatal(err)
	}
	auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: "Microsoft_Graph"}, 1)
	for _, tt := range tests {
		events := auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: tt.integration.GetName()}, 0)
		if got := len(events) == 1 && events[0].GetDetail() == "returned secrets"; got != tt.audited || len(events) > 1 {
			t.Errorf("%s: audited = %v (%v), want %v", tt.integration.GetName(), got, events, tt.audited)
		}
	}
}

// Denied and invalid calls are recorded with what the caller asked for (the
// organization in the detail), before any validation. PostgreSQL refuses a NUL byte in text: such an event, refused,
// held up every event after it (the writer retried it forever).
func TestAuditKeepsWritingWhateverTextACallerSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	hostile := "org\x00\x1b[31m" + strings.Repeat("é", 50_000)
	_, err := f.env.Integrations(t, "bfk_forged").UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: hostile})
	wantCode(t, err, codes.Unauthenticated)
	_, err = f.env.Integrations(t, f.env.AdminKey).UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: hostile})
	wantCode(t, err, codes.InvalidArgument)
	if _, err := f.env.Integrations(t, f.env.AdminKey).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"}); err != nil {
		t.Fatal(err)
	}
	events := auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: "Microsoft_Graph"}, 3)
	if len(events) != 3 || events[0].GetMethod() != "/bifrost.integrations.v1.IntegrationsService/GetIntegration" {
		t.Fatalf("events after the hostile calls: %v; want them and the secret read after them", events)
	}
	for _, e := range events[1:] {
		asked := e.GetDetail()
		if e.GetOrgId() != "" || !strings.HasPrefix(asked, `asked for organization "org`) || len(asked) > 2000 || !utf8.ValidString(asked) || strings.ContainsFunc(asked, unicode.IsControl) {
			t.Fatalf("%s %s event holds org_id %q, detail %.80q (%d bytes); want the organization asked for in the detail, clipped, without control characters",
				e.GetMethod(), e.GetOutcome(), e.GetOrgId(), asked, len(asked))
		}
	}
}

func TestAuditEventsFilterAndPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	start := time.Now()
	for _, org := range []string{"org-1", "org-2", "org-3"} {
		if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: org}); err != nil {
			t.Fatal(err)
		}
	}
	all := auditEvents(t, f, &adminv1.ListAuditEventsRequest{Integration: "Plain"}, 3)
	if len(all) != 3 || all[0].GetOrgId() != "org-3" {
		t.Fatalf("want 3 events newest first, got %v", all)
	}
	one := auditEvents(t, f, &adminv1.ListAuditEventsRequest{OrgId: "org-2"}, 1)
	if len(one) != 1 || one[0].GetOrgId() != "org-2" {
		t.Fatalf("org filter: %v", one)
	}
	page1, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{Integration: "Plain", PageSize: 2})
	if err != nil || len(page1.GetEvents()) != 2 || page1.GetNextPageToken() == "" {
		t.Fatalf("page 1: %v, %v", page1, err)
	}
	page2, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{Integration: "Plain", PageSize: 2, PageToken: page1.GetNextPageToken()})
	if err != nil || len(page2.GetEvents()) != 1 || page2.GetEvents()[0].GetOrgId() != "org-1" {
		t.Fatalf("page 2: %v, %v", page2, err)
	}
	before, err := f.admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{EndTime: timestamppb.New(start.Add(-time.Hour))})
	if err != nil || len(before.GetEvents()) != 0 {
		t.Fatalf("time filter: %v, %v", before, err)
	}
	byAdmin := auditEvents(t, f, &adminv1.ListAuditEventsRequest{ApiKeyId: all[0].GetApiKeyId(), Integration: "Plain"}, 3)
	if len(byAdmin) != 3 {
		t.Fatalf("caller filter: %v", byAdmin)
	}
}
