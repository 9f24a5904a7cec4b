package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/internal/testutil"
)

// offlineCtl runs integrationsctl with nothing in the environment: no key, and
// an address where nothing listens.
func offlineCtl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	lookup := func(k string) (string, bool) { return "127.0.0.1:1", k == "BIFROST_ADDR" }
	cmd := newRootCommand(strings.NewReader(""), &out, &out, lookup)
	cmd.SetArgs(args)
	err := execute(context.Background(), cmd)
	return out.String(), err
}

// ctlAt runs integrationsctl against addr over real TCP, with the admin key.
func ctlAt(t *testing.T, env *testutil.Env, addr string, args ...string) error {
	t.Helper()
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"BIFROST_API_KEY": env.AdminKey, "BIFROST_ADDR": addr}[k]
		return v, ok
	}
	var out bytes.Buffer
	cmd := newRootCommand(strings.NewReader(""), &out, &out, lookup)
	cmd.SetArgs(args)
	return execute(context.Background(), cmd)
}

// commandPaths lists every command under root, as the words that run it.
func commandPaths(root *cobra.Command) [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

func TestHelpCompletionAndVersionWorkWithoutAKeyOrAServer(t *testing.T) {
	t.Parallel()
	root := newRootCommand(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	runs := [][]string{{"help"}, {"help", "json"}, {"help", "connect"}, {"completion", "bash"}, {"completion", "zsh"}, {"completion", "fish"}, {"--version"}}
	for _, path := range commandPaths(root) {
		runs = append(runs, append(path, "--help"))
	}
	for _, args := range runs {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			out, err := offlineCtl(t, args...)
			if err != nil || out == "" {
				t.Fatalf("err = %v, output %q", err, out)
			}
		})
	}
	out, _ := offlineCtl(t, "--version")
	if !strings.HasPrefix(out, "integrationsctl ") || !strings.Contains(out, "commit ") {
		t.Errorf("--version prints %q, want the name and the commit", out)
	}
	if out, _ := offlineCtl(t, "help", "json"); !strings.Contains(out, `"CONNECTED"`) || !strings.Contains(out, "jq") {
		t.Errorf("help json does not describe the JSON output:\n%s", out)
	}
}

// A command given too few or too many arguments, or a wrong or missing flag,
// says what is wrong in words and prints its usage line; none of it needs the
// server.
func TestArgumentMistakesNameTheProblemAndPrintTheUsageLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args      []string
		problem   string
		usageLine string
	}{
		{[]string{"get"}, "missing NAME", "usage: integrationsctl get NAME [--org ORG | --global]"},
		{[]string{"connect"}, "missing CONNECTION", "usage: integrationsctl connect CONNECTION"},
		{[]string{"mappings", "get"}, "missing INTEGRATION", "usage: integrationsctl mappings get INTEGRATION"},
		{[]string{"tokens", "delete"}, "missing ID", "usage: integrationsctl tokens delete ID"},
		{[]string{"keys", "retire"}, "missing KEY_ID", "usage: integrationsctl keys retire KEY_ID"},
		{[]string{"get", "a", "b"}, `unexpected argument "b"`, "usage: integrationsctl get NAME"},
		{[]string{"tokens", "list", "a", "b"}, `unexpected argument "b"`, "usage: integrationsctl tokens list [CONNECTION]"},
		{[]string{"get", "Halo", "--bogus"}, "unknown flag: --bogus", "usage: integrationsctl get NAME"},
		{[]string{"tokens", "put", "graph", "--org", "org-1"}, `required flag(s) "access-token-file" not set`, "usage: integrationsctl tokens put CONNECTION"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := offlineCtl(t, tc.args...)
			if err == nil {
				t.Fatal("succeeded")
			}
			problem, usage, _ := strings.Cut(err.Error(), "\n")
			if problem != tc.problem || !strings.HasPrefix(usage, tc.usageLine) {
				t.Errorf("error %q, want %q and then %q", err, tc.problem, tc.usageLine)
			}
		})
	}
}

// The server's message is the whole error: it already says what went wrong,
// and the code stays on the error for a program.
func TestErrorsReadOnce(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	cases := []struct {
		name string
		args []string
		want string
		code codes.Code
	}{
		{"unknown key", []string{"--key", "bfk_" + strings.Repeat("A", 43), "integrations", "list"}, "unknown api key", codes.Unauthenticated},
		{"malformed key", []string{"--key", "secret", "integrations", "list"}, "malformed api key", codes.Unauthenticated},
		{"unknown integration", []string{"integrations", "get", "Nope"}, `integration "Nope": not found`, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ctl(t, env, "", tc.args...)
			if err == nil || err.Error() != tc.want || status.Code(err) != tc.code {
				t.Errorf("error %q (%v), want %q (%v)", err, status.Code(err), tc.want, tc.code)
			}
		})
	}
}

// integrationsctl pointed at an HTTP port (integrationsd's own, plain or
// behind TLS) says so and where the gRPC port is, instead of an HTTP/2 frame
// error.
func TestPointingAtTheHTTPPortSaysSo(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	callback, err := url.Parse(env.CallbackURL)
	if err != nil {
		t.Fatal(err)
	}
	err = ctlAt(t, env, callback.Host, "integrations", "list")
	if err == nil || !strings.Contains(err.Error(), callback.Host+" answers HTTP/1.1, not gRPC") || !strings.Contains(err.Error(), "gRPC port") {
		t.Errorf("at integrationsd's HTTP port: %v", err)
	}

	tlsHTTP := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsHTTP.EnableHTTP2 = true
	tlsHTTP.StartTLS()
	t.Cleanup(tlsHTTP.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pemOf(tlsHTTP), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(tlsHTTP.URL, "https://")
	err = ctlAt(t, env, host, "--ca-file", ca, "integrations", "list")
	if err == nil || !strings.Contains(err.Error(), host+" answers HTTP, not gRPC") {
		t.Errorf("at an HTTP port behind TLS: %v", err)
	}

	err = ctlAt(t, env, "127.0.0.1:1", "integrations", "list")
	if err == nil || !strings.Contains(err.Error(), "nothing listens at 127.0.0.1:1") {
		t.Errorf("at a closed port: %v", err)
	}
}

// pemOf is the certificate s serves, as a CA bundle that trusts it.
func pemOf(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}
