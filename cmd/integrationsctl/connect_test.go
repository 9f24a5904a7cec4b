package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

func TestConnectWaitsForTheSignInAndDisconnectRemovesTheToken(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t, time.Hour)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	mustCtl(t, env, p.ClientSecret, "connections", "create", "graph", "--client-id", p.ClientID, "--client-secret-file", "-",
		"--authorization-url", p.AuthorizeURL(), "--token-url", p.TokenURL())
	mustCtl(t, env, p.ClientSecret, "connections", "create", "halo", "--flow", "client_credentials", "--client-id", p.ClientID,
		"--client-secret-file", "-", "--token-url", p.TokenURL())

	// client_credentials: no browser, the token at once.
	if out := mustCtl(t, env, "", "connect", "halo", "--org", "org-a", "--entity-id", "t1"); !strings.Contains(out, "Connected halo for org-a") {
		t.Fatalf("connect halo: %s", out)
	}

	// authorization_code: the command prints the link and waits; a person signs in.
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		lookup := func(k string) (string, bool) {
			v, ok := map[string]string{"BIFROST_API_KEY": env.AdminKey, "BIFROST_ADDR": "passthrough:///bufnet"}[k]
			return v, ok
		}
		cmd := newRootCommand(strings.NewReader(""), outW, io.Discard, lookup, grpc.WithContextDialer(env.Dialer()))
		cmd.SetArgs([]string{"connect", "graph", "--org", "org-a", "--open=false", "--timeout", "30s"})
		done <- cmd.ExecuteContext(context.Background())
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	var link string
	for link == "" && lines.Scan() {
		if l := strings.TrimSpace(lines.Text()); strings.HasPrefix(l, "http") {
			link = l
		}
	}
	signIn(t, p, link)
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := <-done; err != nil || !strings.Contains(rest.String(), "Connected graph for org-a") {
		t.Fatalf("connect graph: %v\n%s", err, rest.String())
	}

	if out := mustCtl(t, env, "", "disconnect", "graph", "--org", "org-a"); !strings.Contains(out, "Disconnected graph for org-a") {
		t.Fatalf("disconnect: %s", out)
	}
	if _, err := ctl(t, env, "", "disconnect", "graph", "--org", "org-a"); err == nil {
		t.Fatal("disconnecting twice succeeded")
	}
	if _, err := ctl(t, env, "", "connect", "graph", "--org", "org-a", "--timeout", "200ms", "--open=false"); err == nil || !strings.Contains(err.Error(), "no sign-in") {
		t.Fatalf("connect without a sign-in: %v", err)
	}
}

// signIn approves the consent page of link and follows the redirect to the
// callback, as a browser would.
func signIn(t *testing.T, p *oauthtest.Provider, link string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no link printed: %q", link)
	}
	q := u.Query()
	resp, err := http.PostForm(p.AuthorizeURL(), url.Values{
		"client_id": {q.Get("client_id")}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")},
		"code_challenge": {q.Get("code_challenge")}, "decision": {"approve"},
	})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %v, %v", resp, err)
	}
	resp.Body.Close()
}
