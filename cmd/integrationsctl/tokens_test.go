package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// secretFile writes a secret where --*-file flags read it.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokens list shows when a token was last refreshed, when it will be next and
// why its last refresh failed, in the table and in JSON.
func TestTokensListShowsLastRefreshNextRefreshAndLastError(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	mustCtl(t, env, p.ClientSecret, "connections", "create", "graph", "--client-id", p.ClientID, "--client-secret-file", "-",
		"--authorization-url", p.AuthorizeURL(), "--token-url", p.TokenURL())
	mustCtl(t, env, "", "integrations", "create", "Graph", "--connection", "graph")
	access, refresh := p.Issue()
	mustCtl(t, env, "", "tokens", "put", "graph", "--org", "org-1", "--access-token-file", secretFile(t, access),
		"--refresh-token-file", secretFile(t, refresh), "--expires-in", "1h")
	api := env.Integrations(t, env.AdminKey)
	ctx := context.Background()
	force := &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-1", ForceRefresh: true}
	if _, err := api.GetIntegration(ctx, force); err != nil {
		t.Fatal(err)
	}
	p.FailNext(http.StatusServiceUnavailable)
	if _, err := api.GetIntegration(ctx, force); err == nil {
		t.Fatal("a refresh the provider refused succeeded")
	}

	text := mustCtl(t, env, "", "tokens", "list")
	header, row, _ := strings.Cut(text, "\n")
	for _, column := range []string{"STATUS", "EXPIRES", "LAST REFRESH", "NEXT REFRESH", "LAST ERROR"} {
		if !strings.Contains(header, column) {
			t.Errorf("tokens list has no %s column:\n%s", column, text)
		}
	}
	if len(timestamp.FindAllString(row, -1)) < 3 || !strings.Contains(row, "REFRESH_FAILED") || !strings.Contains(row, "503") {
		t.Errorf("tokens list row lacks the expiry, last and next refresh, status or error:\n%s", text)
	}

	var listed struct {
		Tokens []struct {
			Status          string     `json:"status"`
			LastRefreshedAt *time.Time `json:"lastRefreshedAt"`
			NextRefreshAt   *time.Time `json:"nextRefreshAt"`
			LastError       string     `json:"lastError"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "tokens", "list", "-o", "json")), &listed); err != nil || len(listed.Tokens) != 1 {
		t.Fatalf("tokens list -o json: %+v, %v", listed, err)
	}
	if tok := listed.Tokens[0]; tok.Status != "REFRESH_FAILED" || tok.LastRefreshedAt == nil || tok.NextRefreshAt == nil || !strings.Contains(tok.LastError, "503") {
		t.Errorf("tokens list -o json: %+v", tok)
	}
}

// get prints a table a person reads by default, with the same status words as
// everywhere, and the service's answer as JSON with -o json.
func TestGetPrintsATableByDefault(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	mustCtl(t, env, "client-secret\n", "connections", "create", "graph", "--client-id", "cid", "--client-secret-file", "-",
		"--authorization-url", "https://login.example/authorize", "--token-url", "https://login.example/token")
	mustCtl(t, env, "", "integrations", "create", "Graph", "--connection", "graph", "--field", "page_size:int", "--field", "hook:secret", "--default", "page_size=100")
	mustCtl(t, env, "access-secret\n", "tokens", "put", "graph", "--org", "org-1", "--access-token-file", "-", "--expires-in", "1h")
	mustCtl(t, env, "hook-secret\n", "mappings", "upsert", "Graph", "--org", "org-1", "--entity-id", "tenant-1", "--secret", "hook=-")

	out := mustCtl(t, env, "", "get", "Graph", "--org", "org-1")
	for _, line := range [][]string{{"FIELD", "VALUE"}, {"entity id", "tenant-1"}, {"config page_size", "100"}, {"config hook", redacted},
		{"oauth status", "CONNECTED"}, {"oauth access token", redacted}, {"oauth client secret", redacted}} {
		if !hasRow(out, line...) {
			t.Errorf("get has no row %q:\n%s", line, out)
		}
	}
	for _, secret := range []string{"access-secret", "client-secret", "hook-secret", "{"} {
		if strings.Contains(out, secret) {
			t.Errorf("get prints %q:\n%s", secret, out)
		}
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "get", "Graph", "--org", "org-1", "-o", "json")), &data); err != nil || data["entityId"] != "tenant-1" {
		t.Errorf("get -o json: %v, %v", data, err)
	}
}

// timestamp is a time as tables print it.
var timestamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

// hasRow reports whether a line of table holds cells, in order, and nothing else.
func hasRow(table string, cells ...string) bool {
	want := strings.Join(strings.Fields(strings.Join(cells, " ")), " ")
	for line := range strings.Lines(table) {
		if strings.Join(strings.Fields(line), " ") == want {
			return true
		}
	}
	return false
}
