package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// No character a caller sent can break or reorder a line of integrationsctl's
// output: not in the audit log (stored neutralised), not in text the server
// keeps as sent (an integration's description, where right-to-left marks are
// allowed), in text tables or in JSON, where they are escaped.
func TestOutputNeutralisesEveryCharacterThatDisguisesALine(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	ctx := context.Background()
	admin := env.Admin(t)
	api := env.Integrations(t, env.AdminKey)
	for i, c := range testutil.Disguising {
		// Refused (org IDs are names), and audited with the org as sent.
		_, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: fmt.Sprintf("org-%d%cOK", i, c.R)})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("upsert with a hostile org: %v", err)
		}
		// Kept as sent where validation allows it (it refuses control characters).
		_, err = admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
			Name: fmt.Sprintf("I%d", i), Description: fmt.Sprintf("desc %d%cOK", i, c.R),
		}})
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Fatal(err)
		}
	}
	// Audit events are written in batches: wait for all of them (two a
	// character), so that every subtest reads the same log.
	testutil.Eventually(t, 5*time.Second, func() error {
		events, err := admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{PageSize: 1000})
		if n := len(events.GetEvents()); err != nil || n < 2*len(testutil.Disguising) {
			return fmt.Errorf("%d audit events written, %v", n, err)
		}
		return nil
	})
	for _, c := range testutil.Disguising {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			outputs := map[string]string{}
			for _, args := range [][]string{
				{"audit", "--limit", "1000"},
				{"audit", "--limit", "1000", "-o", "json"},
				{"integrations", "list"},
				{"integrations", "list", "-o", "json"},
			} {
				out := mustCtl(t, env, "", args...)
				if strings.ContainsRune(out, c.R) && c.R != '\n' {
					t.Errorf("integrationsctl %s prints U+%04X:\n%s", strings.Join(args, " "), c.R, out)
				}
				outputs[strings.Join(args, " ")] = out
			}
			// Every event is one line: each line after the header starts with
			// the event's time, and no line is cut short.
			text := outputs["audit --limit 1000"]
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			if len(lines) < 1+len(testutil.Disguising) {
				t.Fatalf("audit prints %d lines:\n%s", len(lines), text)
			}
			for _, line := range lines[1:] {
				if !strings.HasPrefix(line, "20") || !strings.Contains(line, "ADMIN") {
					t.Fatalf("audit prints a line that is no whole event: %q", line)
				}
			}
			var listed struct {
				Integrations []struct{ Description string }
			}
			if err := json.Unmarshal([]byte(outputs["integrations list -o json"]), &listed); err != nil {
				t.Fatal(err)
			}
			for _, in := range listed.Integrations {
				if strings.HasPrefix(in.Description, "desc") && !strings.HasSuffix(in.Description, "OK") {
					t.Errorf("-o json does not keep the description as stored: %q", in.Description)
				}
			}
		})
	}
}

// Every command prints JSON with -o json: one object on stdout that parses,
// with enum values in their one short spelling (no TOKEN_STATUS_ or
// CONNECTION_STATUS_ prefix), and none is left out: the list covers every
// command the tree has.
func TestEveryCommandHonoursOutputJSON(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	runs := []struct {
		stdin string
		args  []string
	}{
		{p.ClientSecret, []string{"connections", "create", "graph", "--client-id", p.ClientID, "--client-secret-file", "-", "--authorization-url", p.AuthorizeURL(), "--token-url", p.TokenURL()}},
		{p.ClientSecret, []string{"connections", "create", "halo", "--flow", "client_credentials", "--client-id", p.ClientID, "--client-secret-file", "-", "--token-url", p.TokenURL()}},
		{"", []string{"connections", "update", "graph", "--scope", "User.Read"}},
		{"", []string{"connections", "list"}},
		{"", []string{"connections", "get", "graph"}},
		{"", []string{"integrations", "create", "Graph", "--connection", "graph", "--field", "n:int", "--field", "s:secret"}},
		{"", []string{"integrations", "create", "Gone", "--connection", "graph"}},
		{"", []string{"integrations", "update", "Graph", "--description", "d"}},
		{"", []string{"integrations", "list"}},
		{"", []string{"integrations", "get", "Graph"}},
		{"access\n", []string{"tokens", "put", "graph", "--org", "org-1", "--access-token-file", "-", "--expires-in", "1h"}},
		{"access\n", []string{"tokens", "put", "graph", "--org", "org-2", "--access-token-file", "-"}},
		{"", []string{"tokens", "list"}},
		{"secret\n", []string{"mappings", "upsert", "Graph", "--org", "org-1", "--entity-id", "t1", "--set", "n=1", "--secret", "s=-"}},
		{"", []string{"mappings", "upsert", "Graph", "--org", "org-2"}},
		{"", []string{"mappings", "get", "Graph", "--org", "org-1"}},
		{"", []string{"mappings", "list", "Graph"}},
		{"", []string{"mappings", "delete", "Graph", "--org", "org-2"}},
		{"", []string{"get", "Graph", "--org", "org-1"}},
		{"", []string{"keys", "create", "--role", "worker", "--org", "org-1"}},
		{"", []string{"keys", "list"}},
		{"", []string{"keys", "rotate"}},
		{"", []string{"keys", "encryption"}},
		{"", []string{"audit", "--since", "1h"}},
		{"", []string{"connect", "halo", "--org", "org-1", "--entity-id", "t1"}},
		{"", []string{"disconnect", "graph", "--org", "org-2"}},
		{"", []string{"integrations", "delete", "Gone"}},
		{"", []string{"connections", "delete", "halo"}},
	}
	// These need an ID made on the way: run below.
	covered := map[string]bool{"keys revoke": true, "tokens delete": true, "keys retire": true,
		"webhooks list": true, "webhooks deliveries": true, "webhooks redeliver": true, "webhooks delete": true}
	for _, r := range runs {
		out := mustCtl(t, env, r.stdin, append(r.args, "-o", "json")...)
		checkJSON(t, r.args, out)
		covered[commandOf(r.args)] = true
	}
	var key struct {
		APIKeys []struct{ ID string } `json:"apiKeys"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "keys", "list", "-o", "json")), &key); err != nil || len(key.APIKeys) == 0 {
		t.Fatalf("keys list: %v", err)
	}
	var tokens struct {
		Tokens []struct{ ID string } `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "tokens", "list", "-o", "json")), &tokens); err != nil || len(tokens.Tokens) == 0 {
		t.Fatalf("tokens list: %v", err)
	}
	for _, args := range [][]string{{"keys", "revoke", key.APIKeys[len(key.APIKeys)-1].ID}, {"tokens", "delete", tokens.Tokens[0].ID}} {
		checkJSON(t, args, mustCtl(t, env, "", append(args, "-o", "json")...))
	}
	var hook struct {
		Webhook struct{ ID string } `json:"webhook"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "webhooks", "create", "https://hooks.example/bifrost", "-o", "json")), &hook); err != nil || hook.Webhook.ID == "" {
		t.Fatalf("webhooks create: %v", err)
	}
	var sent struct {
		Delivery struct{ ID string } `json:"delivery"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "webhooks", "test", hook.Webhook.ID, "-o", "json")), &sent); err != nil || sent.Delivery.ID == "" {
		t.Fatalf("webhooks test: %v", err)
	}
	for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "deliveries", hook.Webhook.ID}, {"webhooks", "redeliver", sent.Delivery.ID}, {"webhooks", "delete", hook.Webhook.ID}} {
		checkJSON(t, args, mustCtl(t, env, "", append(args, "-o", "json")...))
	}
	for _, c := range []string{"webhooks create", "webhooks test"} {
		covered[c] = true
	}
	if out, err := ctl(t, env, "", "keys", "retire", "1", "-o", "json"); err != nil {
		// The key just superseded cannot be retired yet; the refusal is an
		// error on stderr, and stdout stays empty.
		if out != "" {
			t.Errorf("keys retire -o json printed %q with its error", out)
		}
	} else {
		checkJSON(t, []string{"keys", "retire"}, out)
	}

	root := newRootCommand(strings.NewReader(""), io.Discard, io.Discard, func(string) (string, bool) { return "", false })
	for _, path := range commandPaths(root) {
		cmd, _, err := root.Find(path)
		if err != nil || !cmd.Runnable() || offline(cmd) || len(path) == 0 {
			continue
		}
		if !covered[strings.Join(path, " ")] {
			t.Errorf("no -o json run of integrationsctl %s", strings.Join(path, " "))
		}
	}
}

// commandOf is the command words of args, without arguments and flags.
func commandOf(args []string) string {
	root := newRootCommand(strings.NewReader(""), io.Discard, io.Discard, func(string) (string, bool) { return "", false })
	cmd, _, err := root.Find(args)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), "integrationsctl ")
}

func checkJSON(t *testing.T, args []string, out string) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Errorf("integrationsctl %s -o json printed no JSON object (%v):\n%s", strings.Join(args, " "), err, out)
	}
	for _, prefix := range []string{"TOKEN_STATUS_", "CONNECTION_STATUS_", "FLOW_", "ROLE_", "CONFIG_TYPE_", "TOKEN_AUTH_METHOD_", "AUTHORIZATION_STATUS_", "DELIVERY_STATUS_", "WEBHOOK_DELIVERY_STATUS_"} {
		if strings.Contains(out, prefix) {
			t.Errorf("integrationsctl %s -o json spells an enum with its prefix %s:\n%s", strings.Join(args, " "), prefix, out)
		}
	}
}
