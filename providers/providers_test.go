package providers

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every entry is one the service would accept as a connection, says where it
// was checked, and uses {host} exactly when it says what fills it.
func TestEveryCatalogEntryIsAUsableCitedConnection(t *testing.T) {
	all := All()
	if len(all) < 15 {
		t.Fatalf("the catalog has %d providers; the issue asks for at least 15", len(all))
	}
	name := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	reserved := []string{"grant_type", "client_id", "client_secret", "refresh_token", "code", "code_verifier", "redirect_uri", "scope", "audience"}
	seen := map[string]bool{}
	for _, p := range all {
		t.Run(p.Name, func(t *testing.T) {
			if !name.MatchString(p.Name) || seen[p.Name] {
				t.Errorf("name %q is not lower-case-with-hyphens, or not unique", p.Name)
			}
			seen[p.Name] = true
			if p.Title == "" || p.Note == "" {
				t.Error("no title or no note")
			}
			switch p.Flow {
			case "authorization_code":
				if p.AuthorizationURL == "" {
					t.Error("an authorization_code provider without an authorization URL")
				}
			case "client_credentials":
			default:
				t.Errorf("flow %q", p.Flow)
			}
			if p.TokenAuthMethod != "client_secret_basic" && p.TokenAuthMethod != "client_secret_post" {
				t.Errorf("token auth method %q", p.TokenAuthMethod)
			}
			usesHost := strings.Contains(p.AuthorizationURL+p.TokenURL, HostPlaceholder)
			if usesHost != (p.Host != nil) {
				t.Errorf("URLs use {host}: %v, but host is %+v", usesHost, p.Host)
			}
			if p.Host != nil {
				if p.Host.Description == "" {
					t.Error("host without a description")
				}
				hosts := []string{p.Host.Example}
				if p.Host.Default != "" {
					hosts = append(hosts, p.Host.Default)
				}
				for _, h := range hosts {
					if got, err := NormalizeHost(h); err != nil || got != h {
						t.Errorf("host example or default %q: %q, %v", h, got, err)
					}
				}
			}
			for field, raw := range map[string]string{"tokenUrl": p.TokenURL, "authorizationUrl": p.AuthorizationURL} {
				if raw == "" && field == "authorizationUrl" {
					continue
				}
				filled := strings.ReplaceAll(FillHost(raw, "acme.example.com"), "{entity_id}", "tenant")
				u, err := url.Parse(filled)
				if err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(filled, "{}") {
					t.Errorf("%s %q is not an https URL once its placeholders are filled", field, raw)
				}
			}
			for _, s := range p.Scopes {
				if s == "" || strings.ContainsAny(s, " \t\r\n") {
					t.Errorf("scope %q", s)
				}
			}
			for k := range p.TokenParams {
				if slices.Contains(reserved, k) {
					t.Errorf("token parameter %q is one the OAuth flows set themselves", k)
				}
			}
			if len(p.Docs) == 0 {
				t.Error("no documentation cited")
			}
			for _, d := range p.Docs {
				if u, err := url.Parse(d); err != nil || u.Scheme != "https" || u.Host == "" {
					t.Errorf("citation %q is not an https URL", d)
				}
			}
		})
	}
}

// A per-tenant provider keeps {entity_id} for the service to fill per token.
func TestMicrosoftGraphIsPerTenant(t *testing.T) {
	p, err := Lookup("microsoft-graph")
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenURL != "https://login.microsoftonline.com/{entity_id}/oauth2/v2.0/token" ||
		p.AuthorizationURL != "https://login.microsoftonline.com/{entity_id}/oauth2/v2.0/authorize" {
		t.Errorf("microsoft-graph's URLs: %q, %q", p.AuthorizationURL, p.TokenURL)
	}
}

func TestLookupOfAnUnknownNameListsTheKnownOnes(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil {
		t.Fatal("found")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %s", err, n)
		}
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	p, _ := Lookup("microsoft-graph")
	p.Scopes[0] = "changed"
	if q, _ := Lookup("microsoft-graph"); q.Scopes[0] == "changed" {
		t.Error("a caller's change reached the catalog")
	}
}

func TestNormalizeHostTakesAHostAndNothingElse(t *testing.T) {
	for in, want := range map[string]string{
		"acme.halopsa.com":          "acme.halopsa.com",
		"https://acme.halopsa.com/": "acme.halopsa.com",
		" acme.halopsa.com ":        "acme.halopsa.com",
		"halo.example.com:8443":     "halo.example.com:8443",
	} {
		if got, err := NormalizeHost(in); err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "http://acme.halopsa.com", "acme.halopsa.com/auth", "user@acme.halopsa.com", "acme.halopsa.com?x=1", "a b", "{host}", "https://"} {
		if got, err := NormalizeHost(bad); err == nil {
			t.Errorf("NormalizeHost(%q) = %q, want an error", bad, got)
		}
	}
}
