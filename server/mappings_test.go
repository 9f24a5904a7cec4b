package server_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/bifrost/integrations/config"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

func TestUpsertMappingCreatesThenUpdatesKeepingEmptyFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	first, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", EntityId: "tenant-a", EntityName: "Acme", Config: mustStruct(t, map[string]any{"page_size": 7})})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", EntityName: "Acme Corp"})
	if err != nil {
		t.Fatal(err)
	}
	m := second.GetMapping()
	if m.GetId() != first.GetMapping().GetId() {
		t.Fatal("second upsert created another mapping for the same (integration, org)")
	}
	if m.GetEntityId() != "tenant-a" || m.GetEntityName() != "Acme Corp" || m.GetConfig().AsMap()["page_size"] != 7.0 {
		t.Fatalf("after update: %v", m)
	}
	if m.GetOrganizationId() != "org-a" || m.GetIntegrationId() == "" || m.GetCreatedAt() == nil || m.GetUpdatedAt().AsTime().Before(m.GetCreatedAt().AsTime()) {
		t.Fatalf("mapping metadata: %v", m)
	}
}

func TestDeleteMappingSaysWhetherThereWasOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-a"))
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", Config: mustStruct(t, map[string]any{"api_key": orgAAPIKey})}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		resp, err := c.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Microsoft_Graph"})
		if err != nil || resp.GetDeleted() != want {
			t.Fatalf("delete #%d = %v, %v; want deleted=%v", i+1, resp.GetDeleted(), err, want)
		}
	}
	_, err := c.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: "Microsoft_Graph"})
	wantCode(t, err, codes.NotFound)
	resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetIntegration().GetConfig().AsMap()["api_key"]; got != defaultAPIKey {
		t.Fatalf("after delete the org's override still shows: %v", got)
	}
	_, err = c.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: "Nope"})
	wantCode(t, err, codes.NotFound)
}

func TestListMappingsPagesInOrgOrderAndWorkersSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	orgs := []string{"org-e", "org-a", "org-d", "org-b", "org-c"}
	for _, org := range orgs {
		if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: org, EntityId: "e-" + org}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		resp, err := admin.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Plain", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.GetMappings() {
			seen = append(seen, m.GetOrganizationId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if got := fmt.Sprint(seen); got != "[org-a org-b org-c org-d org-e]" {
		t.Fatalf("pages = %s", got)
	}
	worker := f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-c"))
	resp, err := worker.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Plain"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetMappings()) != 1 || resp.GetMappings()[0].GetOrganizationId() != "org-c" {
		t.Fatalf("worker of org-c sees %v", resp.GetMappings())
	}
}

func TestGetMappingByOrgOrByEntity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	if _, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a", EntityId: "company-7"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		req     *integrationsv1.GetMappingRequest
		wantOrg string
		code    codes.Code
	}{
		{"by org", &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-a"}, "org-a", codes.OK},
		{"by org and matching entity", &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-a", EntityId: "company-7"}, "org-a", codes.OK},
		{"by org and the entity in another case", &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-a", EntityId: "COMPANY-7"}, "org-a", codes.OK},
		{"by the entity alone in another case", &integrationsv1.GetMappingRequest{Name: "Plain", EntityId: "Company-7"}, "org-a", codes.OK},
		{"by org and other entity", &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-a", EntityId: "company-8"}, "", codes.NotFound},
		{"by entity alone", &integrationsv1.GetMappingRequest{Name: "Plain", EntityId: "company-7"}, "org-a", codes.OK},
		{"org without mapping", &integrationsv1.GetMappingRequest{Name: "Plain", OrgId: "org-b"}, "", codes.NotFound},
		{"neither org nor entity", &integrationsv1.GetMappingRequest{Name: "Plain"}, "", codes.InvalidArgument},
		{"unknown integration", &integrationsv1.GetMappingRequest{Name: "Nope", OrgId: "org-a"}, "", codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := admin.GetMapping(ctx, tc.req)
			wantCode(t, err, tc.code)
			if resp.GetMapping().GetOrganizationId() != tc.wantOrg {
				t.Fatalf("org = %q, want %q", resp.GetMapping().GetOrganizationId(), tc.wantOrg)
			}
		})
	}
}

func TestMappingTokenMustBelongToTheIntegrationsConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Integrations(t, f.env.AdminKey)
	tok := f.putToken(t, "org-a", "x", "")
	_, err := admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Plain", OrgId: "org-a", OauthTokenId: tok.GetId()})
	wantCode(t, err, codes.InvalidArgument)
	_, err = admin.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", OauthTokenId: "no-such-token"})
	wantCode(t, err, codes.NotFound)
}

func TestRequiredKeyMustBeInMergedConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name:         "Halo",
		ConfigSchema: []*adminv1.ConfigField{{Key: "site", Type: adminv1.ConfigType_CONFIG_TYPE_STRING, Required: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.env.Integrations(t, f.env.AdminKey)
	_, err = c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: "org-a", EntityId: "1"})
	wantField(t, err, "config.site")
	if _, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: "org-a", Config: mustStruct(t, map[string]any{"site": "acme"})}); err != nil {
		t.Fatal(err)
	}
}

// nestedJSON returns a value nesting depth objects and lists, alternating,
// around a string.
func nestedJSON(depth int) any {
	var v any = "leaf"
	for i := range depth {
		if i%2 == 0 {
			v = map[string]any{"a": v}
		} else {
			v = []any{v}
		}
	}
	return v
}

// A config value nested deeper than config.MaxDepth is refused on the way in,
// because clients with protobuf's usual recursion limit (Python's) could not read
// it back; one at the limit is stored and reads back from every read path.
func TestConfigNestedBeyondMaxDepthIsRefusedAndAtTheLimitReadsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.env.Integrations(t, f.env.AdminKey)
	cases := []struct {
		name  string
		write func(value any) error
		field string
		read  func() (any, error)
	}{
		{"UpsertMapping config", func(value any) error {
			_, err := c.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", EntityId: "t", Config: mustStruct(t, map[string]any{"extra": value})})
			return err
		}, "config.extra", func() (any, error) {
			resp, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: "Microsoft_Graph"})
			if err != nil || len(resp.GetMappings()) != 1 {
				return nil, fmt.Errorf("ListMappings = %v, %v", resp, err)
			}
			return resp.GetMappings()[0].GetConfig().AsMap()["extra"], nil
		}},
		{"CreateIntegration default_config", func(value any) error {
			_, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
				Name:          "Deep",
				ConfigSchema:  []*adminv1.ConfigField{{Key: "extra", Type: adminv1.ConfigType_CONFIG_TYPE_JSON}},
				DefaultConfig: mustStruct(t, map[string]any{"extra": value}),
			}})
			return err
		}, "integration.default_config.extra", func() (any, error) {
			resp, err := f.admin.GetIntegration(ctx, &adminv1.GetIntegrationRequest{Name: "Deep"})
			return resp.GetIntegration().GetDefaultConfig().AsMap()["extra"], err
		}},
		{"UpdateIntegration default_config", func(value any) error {
			_, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
				Integration: &adminv1.Integration{Name: "Microsoft_Graph", DefaultConfig: mustStruct(t, map[string]any{"extra": value})},
				UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"default_config"}},
			})
			return err
		}, "integration.default_config.extra", func() (any, error) {
			resp, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", Scope: "global"})
			return resp.GetIntegration().GetConfig().AsMap()["extra"], err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantField(t, tc.write(nestedJSON(config.MaxDepth+1)), tc.field)
			wantField(t, tc.write(nestedJSON(3332)), tc.field)
			if err := tc.write(nestedJSON(config.MaxDepth)); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			got, err := tc.read()
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			if want := nestedJSON(config.MaxDepth); !reflect.DeepEqual(got, want) {
				t.Fatalf("read back %v, want %v", got, want)
			}
		})
	}
}
