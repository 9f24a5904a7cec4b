package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/providers"
)

// connectionJSON is what connections get -o json prints, the fields the
// catalog fills.
type connectionJSON struct {
	Connection struct {
		Flow             string            `json:"flow"`
		ClientID         string            `json:"clientId"`
		ClientSecretSet  bool              `json:"clientSecretSet"`
		AuthorizationURL string            `json:"authorizationUrl"`
		TokenURL         string            `json:"tokenUrl"`
		Scopes           []string          `json:"scopes"`
		Audience         string            `json:"audience"`
		TokenAuthMethod  string            `json:"tokenAuthMethod"`
		TokenParams      map[string]string `json:"tokenParams"`
	} `json:"connection"`
}

func getConnection(t *testing.T, env *testutil.Env, name string) connectionJSON {
	t.Helper()
	var c connectionJSON
	if err := json.Unmarshal([]byte(mustCtl(t, env, "", "connections", "get", name, "-o", "json")), &c); err != nil {
		t.Fatalf("connections get %s -o json: %v", name, err)
	}
	return c
}

// hostFor is the --host a test gives a provider whose URLs need one and that
// has no default.
func hostFor(p providers.Provider) []string {
	if p.Host != nil && p.Host.Default == "" {
		return []string{"--host", p.Host.Example}
	}
	return nil
}

// want is what creating a connection from p should store, {host} filled with
// host.
func want(p providers.Provider, host string) connectionJSON {
	var c connectionJSON
	w := &c.Connection
	w.Flow = strings.ToUpper(p.Flow)
	w.AuthorizationURL = providers.FillHost(p.AuthorizationURL, host)
	w.TokenURL = providers.FillHost(p.TokenURL, host)
	w.Scopes = p.Scopes
	w.Audience = p.Audience
	w.TokenAuthMethod = strings.ToUpper(p.TokenAuthMethod)
	w.TokenParams = p.TokenParams
	return c
}

func compareConnection(t *testing.T, got, want connectionJSON) {
	t.Helper()
	g, w := got.Connection, want.Connection
	for _, f := range []struct{ name, got, want string }{
		{"flow", g.Flow, w.Flow},
		{"authorizationUrl", g.AuthorizationURL, w.AuthorizationURL},
		{"tokenUrl", g.TokenURL, w.TokenURL},
		{"audience", g.Audience, w.Audience},
		{"tokenAuthMethod", g.TokenAuthMethod, w.TokenAuthMethod},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !slices.Equal(g.Scopes, w.Scopes) {
		t.Errorf("scopes = %q, want %q", g.Scopes, w.Scopes)
	}
	if len(g.TokenParams)+len(w.TokenParams) > 0 && !maps.Equal(g.TokenParams, w.TokenParams) {
		t.Errorf("tokenParams = %v, want %v", g.TokenParams, w.TokenParams)
	}
}

// connections create NAME --provider P stores every field the catalog has for
// P, and the service accepts every entry; the client ID and secret are still
// the user's, the secret from stdin.
func TestCreateFromTheCatalogFillsEveryField(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	for _, p := range providers.All() {
		t.Run(p.Name, func(t *testing.T) {
			args := append([]string{"connections", "create", "c-" + p.Name, "--provider", p.Name, "--client-id", "cid-" + p.Name, "--client-secret-file", "-"}, hostFor(p)...)
			mustCtl(t, env, "secret-from-stdin\n", args...)
			got := getConnection(t, env, "c-"+p.Name)
			host := ""
			if p.Host != nil {
				host = p.Host.Default
				if host == "" {
					host = p.Host.Example
				}
			}
			compareConnection(t, got, want(p, host))
			if got.Connection.ClientID != "cid-"+p.Name || !got.Connection.ClientSecretSet {
				t.Errorf("client id %q, secret set %v", got.Connection.ClientID, got.Connection.ClientSecretSet)
			}
		})
	}
}

// A flag given with --provider replaces the catalog's value for its field and
// no other.
func TestAFlagGivenWithProviderOverridesTheCatalog(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	graph, err := providers.Lookup("microsoft-graph")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		flags  []string
		change func(w *connectionJSON)
	}{
		{"token url", []string{"--token-url", "https://login.example/{entity_id}/token"}, func(w *connectionJSON) {
			w.Connection.TokenURL = "https://login.example/{entity_id}/token"
		}},
		{"authorization url", []string{"--authorization-url", "https://login.example/authorize"}, func(w *connectionJSON) {
			w.Connection.AuthorizationURL = "https://login.example/authorize"
		}},
		{"scopes replace the catalog's", []string{"--scope", "User.Read", "--scope", "offline_access"}, func(w *connectionJSON) {
			w.Connection.Scopes = []string{"User.Read", "offline_access"}
		}},
		{"token auth method", []string{"--token-auth-method", "client_secret_basic"}, func(w *connectionJSON) {
			w.Connection.TokenAuthMethod = "CLIENT_SECRET_BASIC"
		}},
		{"flow", []string{"--flow", "client_credentials", "--scope", "https://graph.microsoft.com/.default"}, func(w *connectionJSON) {
			w.Connection.Flow = "CLIENT_CREDENTIALS"
			w.Connection.Scopes = []string{"https://graph.microsoft.com/.default"}
		}},
		{"audience", []string{"--audience", "api://bifrost"}, func(w *connectionJSON) {
			w.Connection.Audience = "api://bifrost"
		}},
		{"token params", []string{"--token-param", "resource=https://graph.microsoft.com"}, func(w *connectionJSON) {
			w.Connection.TokenParams = map[string]string{"resource": "https://graph.microsoft.com"}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "graph-" + strings.Repeat("x", i+1)
			mustCtl(t, env, "s\n", append([]string{"connections", "create", name, "--provider", "microsoft-graph", "--client-id", "cid", "--client-secret-file", "-"}, tc.flags...)...)
			w := want(graph, "")
			tc.change(&w)
			compareConnection(t, getConnection(t, env, name), w)
		})
	}
}

// A per-tenant provider's URLs keep {entity_id}, for the service to fill with
// each token's tenant.
func TestAPerTenantProviderKeepsEntityID(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	for _, name := range []string{"microsoft-graph", "microsoft-graph-app"} {
		mustCtl(t, env, "s\n", "connections", "create", name, "--provider", name, "--client-id", "cid", "--client-secret-file", "-")
		got := getConnection(t, env, name).Connection
		if got.TokenURL != "https://login.microsoftonline.com/{entity_id}/oauth2/v2.0/token" {
			t.Errorf("%s token url %q", name, got.TokenURL)
		}
		if name == "microsoft-graph" && got.AuthorizationURL != "https://login.microsoftonline.com/{entity_id}/oauth2/v2.0/authorize" {
			t.Errorf("%s authorization url %q", name, got.AuthorizationURL)
		}
	}
	// connect fills it with the tenant it is given: the link goes to that
	// tenant's sign-in page.
	mustCtl(t, env, "", "integrations", "create", "Graph", "--connection", "microsoft-graph")
	if link := signInLink(t, env, "microsoft-graph", "--mapping", "Graph", "--entity-id", "tenant-456"); !strings.HasPrefix(link, "https://login.microsoftonline.com/tenant-456/oauth2/v2.0/authorize?") {
		t.Errorf("connect --entity-id does not sign in at the tenant: %s", link)
	}
}

// signInLink is the link connect prints for connection, waiting for nobody.
func signInLink(t *testing.T, env *testutil.Env, connection string, flags ...string) string {
	t.Helper()
	out, _ := ctl(t, env, "", append([]string{"connect", connection, "--org", "org-1", "--open=false", "--timeout", "1ms"}, flags...)...)
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "https://") {
			return line
		}
	}
	t.Fatalf("connect %s printed no link:\n%s", connection, out)
	return ""
}

// The authorization parameters a catalog URL carries (Google's
// access_type=offline, Atlassian's audience) stay in the sign-in link, before
// the ones connect adds.
func TestAuthorizationParametersFromTheCatalogReachTheSignInLink(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	for name, prefix := range map[string]string{
		"google-workspace": "https://accounts.google.com/o/oauth2/v2/auth?access_type=offline&prompt=consent&client_id=cid&",
		"atlassian":        "https://auth.atlassian.com/authorize?audience=api.atlassian.com&prompt=consent&client_id=cid&",
	} {
		mustCtl(t, env, "s\n", "connections", "create", name, "--provider", name, "--client-id", "cid", "--client-secret-file", "-")
		if link := signInLink(t, env, name); !strings.HasPrefix(link, prefix) {
			t.Errorf("%s's sign-in link %s, want it to start %s", name, link, prefix)
		}
	}
}

func TestAnUnknownProviderListsTheKnownOnes(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	_, err := ctl(t, env, "s\n", "connections", "create", "x", "--provider", "microsoft", "--client-id", "cid", "--client-secret-file", "-")
	if err == nil || !strings.Contains(err.Error(), `unknown provider "microsoft"`) {
		t.Fatalf("err = %v", err)
	}
	for _, name := range providers.Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
	if out, err := ctl(t, env, "", "connections", "list", "-o", "json"); err != nil || strings.Contains(out, `"x"`) {
		t.Errorf("a connection was created anyway: %v\n%s", err, out)
	}
}

// A provider on the customer's own host needs it, and says what it is; one
// with a default region takes --host to change it.
func TestHostProvidersTakeTheHostAndRefuseWithoutIt(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	create := func(name string, flags ...string) error {
		_, err := ctl(t, env, "s\n", append([]string{"connections", "create", name, "--client-id", "cid", "--client-secret-file", "-"}, flags...)...)
		return err
	}
	refusals := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"no host for halopsa", []string{"--provider", "halopsa"}, []string{`provider "halopsa" needs --host`, "Halo API", "--host acme.halopsa.com"}},
		{"a URL for a host", []string{"--provider", "halopsa", "--host", "acme.halopsa.com/auth"}, []string{"--host", "not a host name"}},
		{"a host nothing uses", []string{"--provider", "microsoft-graph", "--host", "acme.example.com"}, []string{"--host", "hold no {host}"}},
		{"a host without a provider", []string{"--token-url", "https://login.example/token", "--authorization-url", "https://login.example/authorize", "--host", "acme.example.com"}, []string{"--host", "without --provider"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			err := create("refused", tc.flags...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}

	if err := create("halo", "--provider", "halopsa", "--host", "https://acme.halopsa.com/"); err != nil {
		t.Fatal(err)
	}
	if got := getConnection(t, env, "halo").Connection; got.TokenURL != "https://acme.halopsa.com/auth/token" || got.AuthorizationURL != "https://acme.halopsa.com/auth/authorize" {
		t.Errorf("halopsa with --host: %q, %q", got.AuthorizationURL, got.TokenURL)
	}
	// Both URLs given whole: no host needed.
	if err := create("halo-hosted", "--provider", "halopsa", "--token-url", "https://acme.halopsa.com/auth/token?tenant=acme", "--authorization-url", "https://acme.halopsa.com/auth/authorize"); err != nil {
		t.Fatal(err)
	}
	if err := create("ninja-eu", "--provider", "ninjaone", "--host", "eu.ninjarmm.com"); err != nil {
		t.Fatal(err)
	}
	if got := getConnection(t, env, "ninja-eu").Connection; got.TokenURL != "https://eu.ninjarmm.com/ws/oauth/token" {
		t.Errorf("ninjaone --host eu.ninjarmm.com: token url %q", got.TokenURL)
	}
}

// providers list needs neither a key nor a server and shows every entry with
// the pages it was checked against; -o json says the same to a program.
func TestProvidersListShowsTheCatalogWithCitations(t *testing.T) {
	t.Parallel()
	text, err := offlineCtl(t, "providers", "list")
	if err != nil {
		t.Fatal(err)
	}
	all := providers.All()
	if lines := strings.Count(strings.TrimSpace(text), "\n"); lines != len(all) || len(all) < 15 {
		t.Errorf("providers list shows %d providers of %d, want at least 15:\n%s", lines, len(all), text)
	}
	for _, p := range all {
		if !strings.Contains(text, p.Name) || !strings.Contains(text, p.Docs[0]) {
			t.Errorf("providers list lacks %s or its citation %s", p.Name, p.Docs[0])
		}
	}

	out, err := offlineCtl(t, "providers", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, []string{"providers", "list"}, out)
	var list struct {
		Providers []map[string]any `json:"providers"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Providers) < 15 {
		t.Fatalf("providers list -o json: %d providers, %v", len(list.Providers), err)
	}
	fields := []string{"audience", "authorizationUrl", "docs", "flow", "host", "name", "note", "scopes", "title", "tokenAuthMethod", "tokenParams", "tokenUrl"}
	for _, p := range list.Providers {
		if keys := slices.Sorted(maps.Keys(p)); !slices.Equal(keys, fields) {
			t.Errorf("provider %v has the keys %v, want %v", p["name"], keys, fields)
		}
		docs, _ := p["docs"].([]any)
		if len(docs) == 0 || !strings.HasPrefix(docs[0].(string), "https://") {
			t.Errorf("provider %v cites %v", p["name"], p["docs"])
		}
	}
	if strings.Contains(out, `\u0026`) {
		t.Error("-o json escapes & in URLs")
	}

	get, err := offlineCtl(t, "providers", "get", "halopsa")
	if err != nil || !strings.Contains(get, "https://{host}/auth/token") || !strings.Contains(get, "acme.halopsa.com") || !strings.Contains(get, "https://halopsa.com/apidoc/authorisation") {
		t.Errorf("providers get halopsa: %v\n%s", err, get)
	}
	if _, err := offlineCtl(t, "providers", "get", "nope"); err == nil || !strings.Contains(err.Error(), "microsoft-graph") {
		t.Errorf("providers get nope: %v", err)
	}
}
