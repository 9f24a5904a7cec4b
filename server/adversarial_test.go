package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/oauth"
)

// adversary is the world of TestAdversarialWorkersNeverReachAnotherOrganization:
// six organizations with tokens and secret config that carry marker strings,
// and a worker key of each that tries every identifier it could have seen.
type adversary struct {
	f    *refreshFixture
	rng  *rand.Rand
	orgs []string
	// workers and keyOrg: each organization's worker client, and the
	// organization of each worker key ID (for the audit).
	workers map[string]integrationsv1.IntegrationsServiceClient
	keyOrg  map[string]string
	// Identifiers an attacker collects: token IDs (CLI tables, logs), entity
	// IDs, integration names and variants of them.
	tokenIDs []string
	entities []string
	names    []string
	// held is every entity each organization ever held on the halo
	// connection's integrations: the only ones whose client-credentials
	// tokens it may ever see.
	held map[string]map[string]bool
	// secretSeq numbers the secret config values organizations write.
	secretSeq int
	logSeen   int
	ops       map[string]int
}

// Markers. A token's lineage (oauthtest.IssueFor) names the organization
// whose grant it descends from, "org:<org>~", or for client credentials the
// entity it was minted for, "entity:<entity>~"; a secret config value is
// "sec_<org>_<n>".
var (
	lineageMarker = regexp.MustCompile(`(at|rt)-(org|entity):([^"\s~\\]*)~`)
	secretMarker  = regexp.MustCompile(`sec_([a-z-]+)_[0-9]+`)
)

const globalOwner = "global"

func TestAdversarialWorkersNeverReachAnotherOrganization(t *testing.T) {
	ops := 10000
	if v := os.Getenv("BIFROST_ADVERSARIAL_OPS"); v != "" {
		var err error
		if ops, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("BIFROST_ADVERSARIAL_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	a := newAdversary(t, seed)
	ctx := context.Background()
	for i := range ops {
		org := a.orgs[a.rng.IntN(len(a.orgs))]
		op, answer, err := a.randomCall(ctx, org)
		a.ops[op]++
		a.check(t, i, seed, org, op, answer, err)
		if i%500 == 499 {
			a.collectIdentifiers(t)
		}
	}
	a.checkRefreshEntities(t, seed)
	a.checkAudit(t, seed)
	store := os.Getenv("BIFROST_TEST_DB")
	if store == "" {
		store = "sqlite"
	}
	fmt.Printf("adversarial: %d operations by worker keys of %d organizations on %s (seed %d, BIFROST_ADVERSARIAL_SEED to repeat): %v; no leak found\n",
		ops, len(a.orgs), store, seed, a.ops)
}

func newAdversary(t *testing.T, seed uint64) *adversary {
	t.Helper()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	ctx := context.Background()
	a := &adversary{
		f: f, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		orgs:    []string{"org-a", "org-b", "org-c", "org-d", "org-e", "org-f"},
		workers: map[string]integrationsv1.IntegrationsServiceClient{}, keyOrg: map[string]string{},
		held: map[string]map[string]bool{}, ops: map[string]int{},
	}
	schema := []*adminv1.ConfigField{
		{Key: "api_key", Type: adminv1.ConfigType_CONFIG_TYPE_SECRET},
		{Key: "note", Type: adminv1.ConfigType_CONFIG_TYPE_STRING},
	}
	for _, name := range []string{"Graph", "Halo"} {
		_, err := f.admin.UpdateIntegration(ctx, &adminv1.UpdateIntegrationRequest{
			Integration: &adminv1.Integration{Name: name, ConfigSchema: schema, DefaultConfig: mustStruct(t, map[string]any{"api_key": "sec_global_0"})},
			UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"config_schema", "default_config"}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Plain has no connection; HaloTickets shares Halo's client-credentials
	// connection, and where Halo's entities are bound by admins only,
	// HaloTickets lets workers bind.
	for _, in := range []*adminv1.Integration{
		{Name: "Plain", ConfigSchema: schema, DefaultConfig: mustStruct(t, map[string]any{"api_key": "sec_global_1"}), WorkersBindEntities: true},
		{Name: "HaloTickets", OauthConnection: "halo", ConfigSchema: schema, WorkersBindEntities: true},
	} {
		if _, err := f.admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: in}); err != nil {
			t.Fatal(err)
		}
	}
	f.putLineage(t, "")
	for _, org := range a.orgs {
		if org != "org-f" { // org-f reads the global token: it has none of its own
			f.putLineage(t, org)
		}
		for _, m := range []struct{ integration, entity string }{{"Graph", "tenant-" + org}, {"Halo", "halo-" + org}, {"Plain", "plain-" + org}} {
			if _, err := f.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{
				Name: m.integration, OrgId: org, EntityId: m.entity, Config: mustStruct(t, map[string]any{"api_key": a.nextSecret(org)}),
			}); err != nil {
				t.Fatal(err)
			}
		}
		a.held[org] = map[string]bool{"halo-" + org: true}
		a.workers[org] = f.env.Integrations(t, f.env.NewKey(t, adminv1.Role_ROLE_WORKER, org))
	}
	keys, err := f.admin.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.GetApiKeys() {
		if k.GetRole() == adminv1.Role_ROLE_WORKER {
			a.keyOrg[k.GetId()] = k.GetOrgId()
		}
	}
	a.names = []string{"Graph", "Halo", "HaloTickets", "Plain", "graph", "HALO", "Graph ", " Halo", "Gr\u0430ph", "Ｇraph", "Halo\u200b", "Plain\u202e", "Missing", ""}
	a.collectIdentifiers(t)
	return a
}

// putLineage stores a token pair of org's lineage on graph (org empty: global).
func (f *refreshFixture) putLineage(t *testing.T, org string) {
	t.Helper()
	owner := org
	if owner == "" {
		owner = globalOwner
	}
	access, refresh := f.provider.IssueFor("org:" + owner)
	if _, err := f.admin.PutToken(context.Background(), &adminv1.PutTokenRequest{
		Connection: "graph", OrgId: org, AccessToken: access, RefreshToken: refresh, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour)),
	}); err != nil {
		t.Fatal(err)
	}
}

func (a *adversary) nextSecret(org string) string {
	a.secretSeq++
	return fmt.Sprintf("sec_%s_%d", org, a.secretSeq)
}

// collectIdentifiers gathers what an attacker learns over time: every token
// ID (listings and logs show them) and every entity ID in use.
func (a *adversary) collectIdentifiers(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	a.tokenIDs = a.tokenIDs[:0]
	tokens, err := a.f.admin.ListTokens(ctx, &adminv1.ListTokensRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens.GetTokens() {
		a.tokenIDs = append(a.tokenIDs, tok.GetId(), strings.ToUpper(tok.GetId()), tok.GetId()+" ")
	}
	a.entities = []string{"default-tenant", "tenant-x", ""}
	for _, org := range a.orgs {
		a.entities = append(a.entities, "tenant-"+org, "halo-"+org, "plain-"+org, "HALO-"+org, "Tenant-"+org, "halo-"+org+"\u200b", "halo-"+org+" ", "x@halo-"+org, "x&tenant=halo-"+org)
	}
}

func (a *adversary) pick(from []string) string { return from[a.rng.IntN(len(from))] }

// randomCall makes one random workflow call as org's worker with identifiers
// drawn from everything it could have seen.
func (a *adversary) randomCall(ctx context.Context, org string) (string, proto.Message, error) {
	c := a.workers[org]
	orgIDs := append([]string{"", "", "", org, "ORG-A", "org-a ", "*", "%"}, a.orgs...)
	name := a.pick(a.names)
	switch a.rng.IntN(10) {
	case 0, 1, 2:
		req := &integrationsv1.GetIntegrationRequest{Name: name, OrgId: a.pick(orgIDs), ForceRefresh: a.rng.IntN(8) == 0}
		if a.rng.IntN(4) == 0 {
			req.Scope = a.pick([]string{"global", "GLOBAL", "org", "global "})
		}
		if a.rng.IntN(10) == 0 {
			req.MinValidity = durationpb.New(time.Duration(a.rng.IntN(7200)) * time.Second)
		}
		resp, err := c.GetIntegration(ctx, req)
		return "GetIntegration", resp, err
	case 3:
		resp, err := c.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: name, PageSize: int32(a.rng.IntN(5)), PageToken: a.pick([]string{"", "", "org-a", "bm90LWEtdG9rZW4"})})
		return "ListMappings", resp, err
	case 4, 5:
		resp, err := c.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: name, OrgId: a.pick(orgIDs), EntityId: a.pick(a.entities)})
		return "GetMapping", resp, err
	case 6, 7, 8:
		req := &integrationsv1.UpsertMappingRequest{Name: name, OrgId: a.pick(orgIDs), EntityName: a.pick([]string{"", "Acme", "Evil\u202eCorp"})}
		if a.rng.IntN(2) == 0 {
			req.EntityId = a.pick(append(a.entities, fmt.Sprintf("halo-%s-%d", org, a.rng.IntN(3))))
		}
		if a.rng.IntN(3) == 0 {
			req.OauthTokenId = a.pick(a.tokenIDs)
		}
		switch a.rng.IntN(4) {
		case 0:
			req.Config, _ = structpb.NewStruct(map[string]any{"api_key": a.nextSecret(org)})
		case 1:
			req.Config, _ = structpb.NewStruct(map[string]any{"api_key": nil, "note": "n"})
		}
		resp, err := c.UpsertMapping(ctx, req)
		if err == nil && (name == "Halo" || name == "HaloTickets") {
			a.held[org][resp.GetMapping().GetEntityId()] = true
		}
		return "UpsertMapping", resp, err
	default:
		resp, err := c.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: name, OrgId: a.pick(orgIDs)})
		return "DeleteMapping", resp, err
	}
}

// check fails the test when the answer or error of org's call, or anything
// logged since the last check, holds another organization's marker, or when a
// call ended with a code that means a server fault.
func (a *adversary) check(t *testing.T, i int, seed uint64, org, op string, answer proto.Message, err error) {
	t.Helper()
	where := fmt.Sprintf("operation %d (%s by %s's worker; seed %d)", i, op, org, seed)
	switch status.Code(err) {
	case codes.Internal, codes.Unknown, codes.Unavailable, codes.DeadlineExceeded, codes.DataLoss:
		t.Fatalf("%s: a server fault: %v", where, err)
	}
	text := status.Convert(err).Message()
	if err == nil {
		b, mErr := protojson.Marshal(answer)
		if mErr != nil {
			t.Fatal(mErr)
		}
		text = string(b)
	}
	if leak := a.foreignMarker(org, text); leak != "" {
		t.Fatalf("%s: the answer holds %s: %s", where, leak, text)
	}
	logs := a.f.env.Logs.String()
	fresh := logs[a.logSeen:]
	a.logSeen = len(logs)
	if m := lineageMarker.FindString(fresh); m != "" {
		t.Fatalf("%s: a token (%s…) was logged", where, m)
	}
	if m := secretMarker.FindString(fresh); m != "" || strings.Contains(fresh, a.f.provider.ClientSecret) {
		t.Fatalf("%s: a secret was logged: %q", where, m)
	}
}

// foreignMarker describes the first marker in text that org may not see:
// another organization's token or secret, a client-credentials token minted
// for an entity org never held, the connection's client secret or the global
// refresh token. The global scope's access token and config are everyone's,
// and so are tokens minted for the default entity or for none.
func (a *adversary) foreignMarker(org, text string) string {
	if strings.Contains(text, a.f.provider.ClientSecret) {
		return "the connection's client secret"
	}
	for _, m := range lineageMarker.FindAllStringSubmatch(text, -1) {
		switch token, kind, owner := m[1], m[2], m[3]; {
		case kind == "org" && owner != org && owner != globalOwner:
			return "a token of " + owner
		case kind == "org" && owner == globalOwner && token == "rt":
			return "the global refresh token"
		case kind == "entity" && owner != "" && owner != "default-tenant" && !a.held[org][unescaped(owner)]:
			return "a token minted for entity " + owner
		}
	}
	for _, m := range secretMarker.FindAllStringSubmatch(text, -1) {
		if m[1] != org && m[1] != globalOwner {
			return "a secret of " + m[1]
		}
	}
	return ""
}

// unescaped is an entity as the organization bound it; the provider sees it
// URL-escaped in the token URL's path.
func unescaped(entity string) string {
	if u, err := url.PathUnescape(entity); err == nil {
		return u
	}
	return entity
}

// checkRefreshEntities: every refresh presented a token at its owner's
// entity (in any case), never at the entity of whoever read it.
func (a *adversary) checkRefreshEntities(t *testing.T, seed uint64) {
	t.Helper()
	for _, owner := range append([]string{globalOwner}, a.orgs...) {
		allowed := []string{"default-tenant"}
		if owner != globalOwner {
			allowed = append(allowed, "tenant-"+owner)
		}
		for entity := range a.f.provider.RefreshedAt("org:" + owner) {
			// An entity is one whatever its case (tenant IDs and domains are
			// case-insensitive at the providers, and to the store): an
			// organization may bind its own as "Tenant-org-d".
			if !slices.ContainsFunc(allowed, func(e string) bool { return strings.EqualFold(e, entity) }) {
				t.Fatalf("seed %d: %s's refresh token was presented for entity %s", seed, owner, entity)
			}
		}
	}
}

// checkAudit: no audit record holds a marker, and every call a worker key
// made successfully is recorded under its own organization (or the global
// scope), writes always under its own.
func (a *adversary) checkAudit(t *testing.T, seed uint64) {
	t.Helper()
	ctx := context.Background()
	// The recorder writes in batches, in the order calls were recorded: once
	// the event of a call made after every other is in, all of them are.
	last := fmt.Sprintf("Audit_Sentinel_%d", seed)
	_, err := a.f.env.Integrations(t, "bfk_forged").GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: last})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("seed %d: a call with a forged key: %v, want UNAUTHENTICATED", seed, err)
	}
	a.f.env.AuditEvent(t, &adminv1.ListAuditEventsRequest{Integration: last}, func(*adminv1.AuditEvent) bool { return true })
	req := &adminv1.ListAuditEventsRequest{StartTime: timestamppb.New(time.Now().Add(-time.Hour)), PageSize: 1000}
	n := 0
	for {
		page, err := a.f.admin.ListAuditEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			n++
			b, err := protojson.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if lineageMarker.MatchString(string(b)) || secretMarker.MatchString(string(b)) {
				t.Fatalf("seed %d: an audit record holds a secret: %s", seed, b)
			}
			org, isWorker := a.keyOrg[e.GetApiKeyId()]
			if !isWorker || e.GetOutcome() != codes.OK.String() {
				continue
			}
			write := strings.HasSuffix(e.GetMethod(), "/UpsertMapping") || strings.HasSuffix(e.GetMethod(), "/DeleteMapping")
			if e.GetOrgId() != org && (write || e.GetOrgId() != "") {
				t.Fatalf("seed %d: %s's worker call recorded under organization %q: %s", seed, org, e.GetOrgId(), b)
			}
		}
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if n == 0 {
		t.Fatal("no audit records")
	}
}
