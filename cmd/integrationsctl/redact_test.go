package main

import (
	"strings"
	"testing"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// mappings get, list and upsert print a mapping's secret config values only
// with --show-secrets, in text and in JSON, as get does; the mapping messages do
// not say which keys are secret, so the integration's schema does. A key that
// cannot read the schema (a worker's) sees every config value redacted.
func TestMappingCommandsRedactSecretConfigValuesUnlessShowSecrets(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	const secret = "sk-live-7f3a9c"
	mustCtl(t, env, "", "integrations", "create", "Halo", "--field", "site:string", "--field", "api_key:secret")
	mustCtl(t, env, secret+"\n", "mappings", "upsert", "Halo", "--org", "org-1", "--set", "site=eu", "--secret", "api_key=-")
	worker := env.NewKey(t, adminv1.Role_ROLE_WORKER, "org-1")
	cases := []struct {
		name       string
		args       []string
		stdin      string
		wantSecret bool // the secret value is printed
		wantPlain  bool // the plain value (site=eu) is printed
	}{
		{"get", []string{"mappings", "get", "Halo", "--org", "org-1"}, "", false, true},
		{"get -o json", []string{"mappings", "get", "Halo", "--org", "org-1", "-o", "json"}, "", false, true},
		{"list", []string{"mappings", "list", "Halo"}, "", false, true},
		{"list -o json", []string{"mappings", "list", "Halo", "-o", "json"}, "", false, true},
		{"upsert", []string{"mappings", "upsert", "Halo", "--org", "org-1", "--entity-name", "Acme"}, "", false, true},
		{"upsert of the secret itself", []string{"mappings", "upsert", "Halo", "--org", "org-1", "--secret", "api_key=-", "-o", "json"}, secret + "\n", false, true},
		{"get --show-secrets", []string{"mappings", "get", "Halo", "--org", "org-1", "--show-secrets"}, "", true, true},
		{"list -o json --show-secrets", []string{"mappings", "list", "Halo", "-o", "json", "--show-secrets"}, "", true, true},
		{"upsert --show-secrets", []string{"mappings", "upsert", "Halo", "--org", "org-1", "--show-secrets"}, "", true, true},
		{"a worker's get: no schema, every value redacted", []string{"--key", worker, "mappings", "get", "Halo"}, "", false, false},
		{"a worker's upsert", []string{"--key", worker, "mappings", "upsert", "Halo", "--set", "site=eu", "-o", "json"}, "", false, false},
		{"a worker's list --show-secrets", []string{"--key", worker, "mappings", "list", "Halo", "--show-secrets"}, "", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := mustCtl(t, env, tc.stdin, tc.args...)
			if got := strings.Contains(out, secret); got != tc.wantSecret {
				t.Errorf("prints the secret value: %v, want %v:\n%s", got, tc.wantSecret, out)
			}
			if got := strings.Contains(out, "eu"); got != tc.wantPlain {
				t.Errorf("prints the plain value: %v, want %v:\n%s", got, tc.wantPlain, out)
			}
			if !tc.wantSecret && !strings.Contains(out, redacted) {
				t.Errorf("does not say what it redacted:\n%s", out)
			}
		})
	}
}
