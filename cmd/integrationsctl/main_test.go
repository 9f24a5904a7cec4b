package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/internal/testutil"
)

// ctl runs integrationsctl against the test server and returns its output.
func ctl(t *testing.T, env *testutil.Env, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"BIFROST_API_KEY": env.AdminKey, "BIFROST_ADDR": "passthrough:///bufnet"}[k]
		return v, ok
	}
	cmd := newRootCommand(strings.NewReader(stdin), &out, &errOut, lookup, grpc.WithContextDialer(env.Dialer()))
	cmd.SetArgs(args)
	err := execute(context.Background(), cmd)
	return out.String(), err
}

func mustCtl(t *testing.T, env *testutil.Env, stdin string, args ...string) string {
	t.Helper()
	out, err := ctl(t, env, stdin, args...)
	if err != nil {
		t.Fatalf("integrationsctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestQuickstartThroughTheCommandLine(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	tokenFile := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(tokenFile, []byte("access-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, env, "client-secret-from-stdin\n", "connections", "create", "graph", "--client-id", "cid", "--client-secret-file", "-",
		"--authorization-url", "https://login.example/{entity_id}/authorize", "--token-url", "https://login.example/{entity_id}/token", "--scope", "User.Read")
	mustCtl(t, env, "whsec\n", "integrations", "create", "Microsoft_Graph", "--connection", "graph", "--default-entity-id", "common",
		"--field", "tenant:string", "--field", "page_size:int", "--field", "beta:bool", "--field", "hook:secret",
		"--default", "page_size=100", "--default", "beta=false", "--default-secret", "hook=-")
	mustCtl(t, env, "", "tokens", "put", "graph", "--org", "org-123", "--access-token-file", tokenFile, "--expires-in", "1h")
	mustCtl(t, env, "", "mappings", "upsert", "Microsoft_Graph", "--org", "org-123", "--entity-id", "tenant-456", "--set", "page_size=50", "--set", "tenant=acme")

	redacted := mustCtl(t, env, "", "get", "Microsoft_Graph", "--org", "org-123", "-o", "json")
	for _, want := range []string{`"entityId": "tenant-456"`, `"page_size": 50`, `"hook": "REDACTED"`, `"status": "CONNECTED"`} {
		if !strings.Contains(redacted, want) {
			t.Errorf("get output lacks %s:\n%s", want, redacted)
		}
	}
	for _, secret := range []string{"access-from-file", "client-secret-from-stdin", "whsec"} {
		if strings.Contains(redacted, secret) {
			t.Errorf("get without --show-secrets prints %q", secret)
		}
	}
	shown := mustCtl(t, env, "", "get", "Microsoft_Graph", "--org", "org-123", "--show-secrets")
	for _, secret := range []string{"access-from-file", "client-secret-from-stdin", "whsec"} {
		if !strings.Contains(shown, secret) {
			t.Errorf("get --show-secrets lacks %q", secret)
		}
	}

	mustCtl(t, env, "", "integrations", "update", "Microsoft_Graph", "--description", "Graph", "--unset-default", "beta")
	got := mustCtl(t, env, "", "integrations", "get", "Microsoft_Graph")
	if !strings.Contains(got, "Graph") || strings.Contains(got, "default beta") || !strings.Contains(got, "default page_size") {
		t.Errorf("after update:\n%s", got)
	}
	if out := mustCtl(t, env, "", "connections", "update", "graph", "--token-auth-method", "client_secret_post"); !strings.Contains(out, "client_secret_post") || !strings.Contains(out, "User.Read") {
		t.Errorf("connections update --token-auth-method changed more or less than the method:\n%s", out)
	}
	if _, err := ctl(t, env, "", "connections", "update", "graph", "--token-auth-method", "private_key_jwt"); err == nil || !strings.Contains(err.Error(), "--token-auth-method") {
		t.Errorf("an unsupported token auth method: %v", err)
	}
	keyOut := mustCtl(t, env, "", "keys", "create", "--role", "worker", "--org", "org-123")
	if !strings.HasPrefix(keyOut, "bfk_") {
		t.Errorf("keys create does not print the secret first:\n%s", keyOut)
	}
	auditOut := mustCtl(t, env, "", "audit", "--integration", "Microsoft_Graph", "--since", "1h")
	if !strings.Contains(auditOut, "UpsertMapping") || !strings.Contains(auditOut, "returned secrets") {
		t.Errorf("audit output lacks the upsert or the secret read:\n%s", auditOut)
	}
	mustCtl(t, env, "", "keys", "rotate")
	if out := mustCtl(t, env, "", "keys", "encryption"); !strings.Contains(out, "values wait for re-encryption") {
		t.Errorf("keys encryption:\n%s", out)
	}
	if _, err := ctl(t, env, "", "keys", "retire", "2"); err == nil || !strings.Contains(err.Error(), "current") {
		t.Errorf("retiring the current key: %v", err)
	}
	list := mustCtl(t, env, "", "mappings", "list", "Microsoft_Graph", "-o", "json")
	if !strings.Contains(list, `"organizationId":`) || !strings.Contains(list, "org-123") {
		t.Errorf("mappings list -o json:\n%s", list)
	}
}

func TestCommandLineErrorsAreClear(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	mustCtl(t, env, "", "integrations", "create", "Typed", "--field", "n:int")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown integration", []string{"integrations", "get", "Nope"}, `integration "Nope": not found`},
		{"bad int default names --default", []string{"integrations", "create", "X", "--field", "n:int", "--default", "n=ten"}, `--default n: "ten" is not an integer`},
		{"default without a value names --default", []string{"integrations", "create", "X", "--field", "n:int", "--default", "n"}, `--default "n": want key=value`},
		{"secret default without a file names --default-secret", []string{"integrations", "create", "X", "--field", "k:secret", "--default-secret", "k"}, `--default-secret "k"`},
		{"bad int override names --set", []string{"mappings", "upsert", "Typed", "--org", "org-1", "--set", "n=ten"}, `--set n: "ten" is not an integer`},
		{"bad field spec", []string{"integrations", "create", "X", "--field", "n"}, "key:type"},
		{"token put without scope", []string{"tokens", "put", "graph", "--access-token-file", "-"}, "--org ORG or --global"},
		{"bad role", []string{"keys", "create", "--role", "root"}, "--role"},
		{"server-side validation", []string{"connections", "create", "c", "--client-id", "x", "--token-url", "ftp://x"}, "connection.token_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ctl(t, env, "tok", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// What the quickstart creates can be listed, shown, revoked and deleted again,
// and every listing keeps secrets out.
func TestListShowAndDeleteThroughTheCommandLine(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	tokenFile := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(tokenFile, []byte("access-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, env, "client-secret-1\n", "connections", "create", "graph", "--client-id", "cid-1", "--client-secret-file", "-",
		"--token-url", "https://login.example/token", "--authorization-url", "https://login.example/authorize")
	mustCtl(t, env, "", "integrations", "create", "Halo", "--connection", "graph", "--field", "site:string")
	mustCtl(t, env, "", "tokens", "put", "graph", "--org", "org-1", "--access-token-file", tokenFile, "--expires-in", "1h")
	mustCtl(t, env, "", "mappings", "upsert", "Halo", "--org", "org-1", "--entity-id", "tenant-1", "--set", "site=eu")
	var created struct {
		APIKey struct {
			ID string `json:"id"`
		} `json:"apiKey"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "keys", "create", "--role", "worker", "--org", "org-1", "--name", "ci", "-o", "json")), &created); err != nil || created.APIKey.ID == "" {
		t.Fatalf("keys create -o json: %v", err)
	}
	var tokens struct {
		Tokens []struct {
			ID string `json:"id"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "tokens", "list", "graph", "-o", "json")), &tokens); err != nil || len(tokens.Tokens) != 1 {
		t.Fatalf("tokens list graph -o json: %+v, %v", tokens, err)
	}

	shows := []struct {
		args []string
		want []string
	}{
		{[]string{"connections", "list"}, []string{"graph", "cid-1"}},
		{[]string{"connections", "get", "graph"}, []string{"graph", "cid-1", "https://login.example/token"}},
		{[]string{"integrations", "list"}, []string{"Halo", "graph"}},
		{[]string{"tokens", "list"}, []string{tokens.Tokens[0].ID, "org-1", "CONNECTED"}},
		{[]string{"mappings", "get", "Halo", "--org", "org-1"}, []string{"tenant-1", "eu"}},
		{[]string{"mappings", "get", "Halo", "--entity-id", "tenant-1"}, []string{"org-1"}},
		{[]string{"keys", "list"}, []string{created.APIKey.ID, "ci", "WORKER", "org-1"}},
		{[]string{"keys", "revoke", created.APIKey.ID}, []string{created.APIKey.ID}},
		{[]string{"mappings", "delete", "Halo", "--org", "org-1"}, nil},
		{[]string{"tokens", "delete", tokens.Tokens[0].ID}, []string{tokens.Tokens[0].ID}},
		{[]string{"integrations", "delete", "Halo"}, nil},
		{[]string{"connections", "delete", "graph"}, nil},
	}
	for _, s := range shows {
		out := mustCtl(t, env, "", s.args...)
		for _, want := range s.want {
			if !strings.Contains(out, want) {
				t.Errorf("integrationsctl %s lacks %q:\n%s", strings.Join(s.args, " "), want, out)
			}
		}
		for _, secret := range []string{"client-secret-1", "access-secret-1"} {
			if strings.Contains(out, secret) {
				t.Errorf("integrationsctl %s prints a secret:\n%s", strings.Join(s.args, " "), out)
			}
		}
	}
	for _, gone := range [][]string{
		{"mappings", "get", "Halo", "--org", "org-1"},
		{"integrations", "get", "Halo"},
		{"connections", "get", "graph"},
	} {
		if _, err := ctl(t, env, "", gone...); status.Code(err) != codes.NotFound {
			t.Errorf("integrationsctl %s after the delete: %v, want NotFound", strings.Join(gone, " "), err)
		}
	}
	out := mustCtl(t, env, "", "keys", "list")
	for line := range strings.Lines(out) {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == created.APIKey.ID && fields[len(fields)-1] == "-" {
			t.Errorf("keys list shows the revoked key without its revocation time:\n%s", out)
		}
	}
}
