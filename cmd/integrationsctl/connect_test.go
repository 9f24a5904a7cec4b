package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// connectEnv is a server at a provider with an authorization_code connection
// "graph" (URLs with {entity_id}), a client_credentials one "halo", and an
// integration Graph on graph.
func connectEnv(t *testing.T) (*testutil.Env, *oauthtest.Provider) {
	t.Helper()
	p := oauthtest.New(t, time.Hour)
	env := testutil.Start(t, oauth.Options{HTTPClient: p.Server.Client()})
	mustCtl(t, env, p.ClientSecret, "connections", "create", "graph", "--client-id", p.ClientID, "--client-secret-file", "-",
		"--authorization-url", p.AuthorizeURL(), "--token-url", p.TokenURL())
	mustCtl(t, env, p.ClientSecret, "connections", "create", "halo", "--flow", "client_credentials", "--client-id", p.ClientID,
		"--client-secret-file", "-", "--token-url", p.TokenURL())
	mustCtl(t, env, "", "integrations", "create", "Graph", "--connection", "graph")
	return env, p
}

// running is an integrationsctl connect in progress.
type running struct {
	redirectURI, link string
	done              chan error
	rest              chan string // the output after the link, once it ends
	cancel            context.CancelFunc
}

// startConnect runs integrationsctl with args (a connect) until it has printed
// its sign-in link, and returns it running. stderr holds what it printed
// there.
func startConnect(t *testing.T, env *testutil.Env, args ...string) *running {
	t.Helper()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &running{done: make(chan error, 1), rest: make(chan string, 1), cancel: cancel}
	go func() {
		lookup := func(k string) (string, bool) {
			v, ok := map[string]string{"BIFROST_API_KEY": env.AdminKey, "BIFROST_ADDR": "passthrough:///bufnet"}[k]
			return v, ok
		}
		cmd := newRootCommand(strings.NewReader(""), outW, outW, lookup, grpc.WithContextDialer(env.Dialer()))
		cmd.SetArgs(append(args, "--open=false"))
		err := execute(ctx, cmd)
		outW.Close()
		r.done <- err
	}()
	lines := bufio.NewScanner(outR)
	var next *string
	for r.link == "" && lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		switch {
		case strings.HasPrefix(line, "Connecting "):
			next = &r.redirectURI
		case strings.HasPrefix(line, "Open this link"):
			next = &r.link
		case next != nil && line != "":
			*next, next = line, nil
		}
	}
	if r.link == "" {
		t.Fatalf("connect printed no link: %v", <-r.done)
	}
	go func() {
		var rest strings.Builder
		for lines.Scan() {
			rest.WriteString(lines.Text() + "\n")
		}
		r.rest <- rest.String()
	}()
	return r
}

// wait returns what the command printed after the link and how it ended.
func (r *running) wait(t *testing.T) (rest string, err error) {
	t.Helper()
	select {
	case err := <-r.done:
		return <-r.rest, err
	case <-time.After(time.Minute):
		t.Fatal("connect still runs after a minute")
		return "", nil
	}
}

// signIn plays the person at the provider's consent page of link, deciding
// decision ("approve" or "deny"), and follows the redirect to the callback,
// as a browser would.
func signIn(t *testing.T, p *oauthtest.Provider, link, decision string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no link printed: %q", link)
	}
	back, err := p.Decide(u, decision)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	resp, err := http.Get(back)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	resp.Body.Close()
}

func TestConnectWaitsForTheSignInAndDisconnectRemovesTheToken(t *testing.T) {
	t.Parallel()
	env, p := connectEnv(t)

	// client_credentials: no browser, the token at once.
	if out := mustCtl(t, env, "", "connect", "halo", "--org", "org-a", "--entity-id", "t1"); !strings.Contains(out, "Connected halo for org-a") {
		t.Fatalf("connect halo: %s", out)
	}

	// authorization_code: the command prints the redirect URI to register and
	// the link, and waits; a person signs in.
	r := startConnect(t, env, "connect", "graph", "--org", "org-a", "--timeout", "30s")
	if r.redirectURI != env.CallbackURL+"/oauth/callback" {
		t.Errorf("connect prints the redirect URI %q, want %q", r.redirectURI, env.CallbackURL+"/oauth/callback")
	}
	signIn(t, p, r.link, "approve")
	rest, err := r.wait(t)
	if err != nil || !strings.Contains(rest, "Connected graph for org-a: token ") {
		t.Fatalf("connect graph: %v\n%s", err, rest)
	}

	if out := mustCtl(t, env, "", "disconnect", "graph", "--org", "org-a"); !strings.Contains(out, "Disconnected graph for org-a") {
		t.Fatalf("disconnect: %s", out)
	}
	if _, err := ctl(t, env, "", "disconnect", "graph", "--org", "org-a"); err == nil {
		t.Fatal("disconnecting twice succeeded")
	}
	if _, err := ctl(t, env, "", "connect", "graph", "--org", "org-a", "--timeout", "200ms", "--open=false"); err == nil || !strings.Contains(err.Error(), "no sign-in completed within 200ms") {
		t.Fatalf("connect without a sign-in: %v", err)
	}
}

// A sign-in the person denies, or that fails at the provider, ends connect at
// once with the reason the callback page gave: not ten minutes later with a
// timeout.
func TestConnectReportsADeniedOrFailedSignInAtOnceWithTheReason(t *testing.T) {
	t.Parallel()
	env, p := connectEnv(t)
	cases := []struct {
		name   string
		org    string
		signIn func(link string)
		says   []string
	}{
		{"denied", "org-denied", func(link string) { signIn(t, p, link, "deny") },
			[]string{"the sign-in was denied", "The user denied the request"}},
		{"failed", "org-failed", func(link string) {
			u, _ := url.Parse(link)
			back := u.Query().Get("redirect_uri") + "?" + url.Values{"state": {u.Query().Get("state")}, "error": {"server_error"}, "error_description": {"try later"}}.Encode()
			resp, err := http.Get(back)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}, []string{"the sign-in failed", "server_error", "try later"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startConnect(t, env, "connect", "graph", "--org", tc.org, "--timeout", "2m")
			signedIn := time.Now()
			tc.signIn(r.link)
			rest, err := r.wait(t)
			if err == nil || strings.Contains(rest, "Connected") {
				t.Fatalf("connect reported success: %v\n%s", err, rest)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if took := time.Since(signedIn); took > 10*time.Second {
				t.Errorf("connect took %s after the sign-in to report it", took)
			}
		})
	}
}

// connect reports success only for the token its own sign-in stored: the
// organization's token refreshed (a forced read), put again by an admin, or
// connected by another connect's sign-in, all after this connect started,
// leave it waiting, and it ends with its timeout, not with "Connected".
func TestConnectIgnoresEveryOtherUpdateOfTheOrganizationsToken(t *testing.T) {
	t.Parallel()
	env, p := connectEnv(t)
	access, refresh := p.Issue()
	mustCtl(t, env, "", "tokens", "put", "graph", "--org", "org-a", "--access-token-file", secretFile(t, access),
		"--refresh-token-file", secretFile(t, refresh), "--expires-in", "1h")

	mine := startConnect(t, env, "connect", "graph", "--org", "org-a", "--timeout", "3s")
	api := env.Integrations(t, env.AdminKey)
	if _, err := api.GetIntegration(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	another := startConnect(t, env, "connect", "graph", "--org", "org-a", "--timeout", "30s")
	signIn(t, p, another.link, "approve")
	if rest, err := another.wait(t); err != nil || !strings.Contains(rest, "Connected graph for org-a") {
		t.Fatalf("the other connect: %v\n%s", err, rest)
	}
	mustCtl(t, env, "", "tokens", "put", "graph", "--org", "org-a", "--access-token-file", secretFile(t, "put-by-hand"), "--expires-in", "1h")

	rest, err := mine.wait(t)
	if err == nil || !strings.Contains(err.Error(), "no sign-in completed within 3s") || strings.Contains(rest, "Connected") {
		t.Fatalf("connect whose link nobody opened: %v\n%s", err, rest)
	}
}

// Ctrl-C while connect waits says it was interrupted, and that the link
// still works, rather than "context canceled".
func TestConnectInterruptedSaysSo(t *testing.T) {
	t.Parallel()
	env, _ := connectEnv(t)
	r := startConnect(t, env, "connect", "graph", "--org", "org-a")
	r.cancel()
	_, err := r.wait(t)
	if err == nil || !strings.HasPrefix(err.Error(), "interrupted: ") || !strings.Contains(err.Error(), "the link stays valid until") {
		t.Fatalf("interrupted connect: %v", err)
	}
}

// --entity-id: for a client_credentials connection the token's entity; for an
// authorization_code one with --mapping, the entity the sign-in and the
// mapping use; refused, with the reason, where it would not work, before any
// link is printed.
func TestConnectEntityIDWorksOrIsRefusedWithAReason(t *testing.T) {
	t.Parallel()
	env, p := connectEnv(t)
	mustCtl(t, env, p.ClientSecret, "connections", "create", "plain", "--client-id", p.ClientID, "--client-secret-file", "-",
		"--authorization-url", p.AuthorizeURL(), "--token-url", p.Server.URL+"/common/token")
	mustCtl(t, env, "", "integrations", "create", "Plain", "--connection", "plain")

	refusals := []struct {
		args []string
		says string
	}{
		{[]string{"connect", "plain", "--org", "org-a", "--mapping", "Plain", "--entity-id", "t1"}, "do not use {entity_id}"},
		{[]string{"connect", "graph", "--org", "org-a", "--entity-id", "t1"}, "needs mapping_integration"},
		{[]string{"connect", "graph", "--global", "--entity-id", "t1"}, "default entity"},
	}
	for _, tc := range refusals {
		out, err := ctl(t, env, "", append(tc.args, "--open=false", "--timeout", "5s")...)
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(out, "http") {
			t.Errorf("integrationsctl %s: %v, want a refusal saying %q and no link\n%s", strings.Join(tc.args, " "), err, tc.says, out)
		}
	}

	r := startConnect(t, env, "connect", "graph", "--org", "org-t", "--mapping", "Graph", "--entity-id", "tenant-9", "--timeout", "30s")
	signIn(t, p, r.link, "approve")
	if rest, err := r.wait(t); err != nil || !strings.Contains(rest, "Connected graph for org-t") {
		t.Fatalf("connect --entity-id: %v\n%s", err, rest)
	}
	if out := mustCtl(t, env, "", "mappings", "get", "Graph", "--org", "org-t"); !strings.Contains(out, "tenant-9") {
		t.Errorf("the mapping is not bound to the entity connected:\n%s", out)
	}
	if p.EntityCalls("tenant-9") == 0 {
		t.Error("the code was not exchanged at tenant-9's token endpoint")
	}
}

// With -o json connect and disconnect print what they did as JSON on stdout
// (the sign-in's Authorization, the token deleted), and the link goes to
// stderr.
func TestConnectAndDisconnectPrintJSON(t *testing.T) {
	t.Parallel()
	env, p := connectEnv(t)
	var cc map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "connect", "halo", "--org", "org-a", "--entity-id", "t1", "-o", "json")), &cc); err != nil || cc["status"] != "CONNECTED" || cc["entityId"] != "t1" {
		t.Fatalf("connect halo -o json: %v, %v", cc, err)
	}

	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		lookup := func(k string) (string, bool) {
			v, ok := map[string]string{"BIFROST_API_KEY": env.AdminKey, "BIFROST_ADDR": "passthrough:///bufnet"}[k]
			return v, ok
		}
		cmd := newRootCommand(strings.NewReader(""), outW, errW, lookup, grpc.WithContextDialer(env.Dialer()))
		cmd.SetArgs([]string{"connect", "graph", "--org", "org-a", "-o", "json", "--open=false", "--timeout", "30s"})
		done <- execute(context.Background(), cmd)
		outW.Close()
		errW.Close()
	}()
	stdout := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(outR); stdout <- b }()
	progress := bufio.NewScanner(errR)
	link := ""
	for link == "" && progress.Scan() {
		if l := strings.TrimSpace(progress.Text()); strings.HasPrefix(l, p.AuthorizeURL()) {
			link = l
		}
	}
	go func() { _, _ = io.Copy(io.Discard, errR) }()
	signIn(t, p, link, "approve")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var auth struct {
		Status  string `json:"status"`
		TokenID string `json:"tokenId"`
		OrgID   string `json:"orgId"`
	}
	if out := <-stdout; json.Unmarshal(out, &auth) != nil || auth.Status != "CONNECTED" || auth.TokenID == "" || auth.OrgID != "org-a" {
		t.Fatalf("connect graph -o json printed %s", out)
	}

	var gone struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "disconnect", "graph", "--org", "org-a", "-o", "json")), &gone); err != nil || gone.ID != auth.TokenID {
		t.Fatalf("disconnect -o json: %+v, %v; want token %s", gone, err, auth.TokenID)
	}
}
