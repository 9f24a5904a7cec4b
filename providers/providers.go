// Package providers is the catalog of OAuth providers shipped with the
// service: for each system a managed service provider connects first, the
// authorization and token endpoints, default scopes, how the client
// authenticates at the token endpoint and any extra token parameters, with the
// published documentation each entry was checked against.
//
// The catalog is data (catalog.json, embedded); this package only reads it.
// URLs may hold two placeholders: {entity_id}, which the service fills per
// token with the resolved entity (a customer's tenant), and {host}, which
// belongs to the customer's own instance (a HaloPSA site, a NinjaOne region)
// and is filled once, when the connection is created (FillHost).
package providers

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// HostPlaceholder stands in a catalog URL for the host of the customer's own
// instance of a provider.
const HostPlaceholder = "{host}"

// Provider is one catalog entry: a connection's settings, less its name and
// client credentials.
type Provider struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Flow is authorization_code or client_credentials.
	Flow             string   `json:"flow"`
	AuthorizationURL string   `json:"authorizationUrl"`
	TokenURL         string   `json:"tokenUrl"`
	Scopes           []string `json:"scopes"`
	Audience         string   `json:"audience"`
	// TokenAuthMethod is client_secret_basic or client_secret_post.
	TokenAuthMethod string            `json:"tokenAuthMethod"`
	TokenParams     map[string]string `json:"tokenParams"`
	// Host describes {host}, for the providers whose URLs hold it.
	Host *Host `json:"host"`
	// Docs are the published pages the entry was checked against.
	Docs []string `json:"docs"`
	// Note says what the pages confirmed, what they did not, and what a
	// user must still know.
	Note string `json:"note"`
}

// Host is what fills {host} in a provider's URLs.
type Host struct {
	Description string `json:"description"`
	Example     string `json:"example"`
	// Default fills {host} when none is given; empty means one is required.
	Default string `json:"default"`
}

//go:embed catalog.json
var catalogJSON []byte

var catalog = mustParse(catalogJSON)

func mustParse(raw []byte) []Provider {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var file struct {
		Providers []Provider `json:"providers"`
	}
	if err := dec.Decode(&file); err != nil {
		panic("providers: catalog.json: " + err.Error())
	}
	slices.SortFunc(file.Providers, func(a, b Provider) int { return strings.Compare(a.Name, b.Name) })
	return file.Providers
}

// All returns the catalog, sorted by name.
func All() []Provider {
	out := make([]Provider, len(catalog))
	for i, p := range catalog {
		out[i] = p.clone()
	}
	return out
}

// Names returns the providers' names, sorted.
func Names() []string {
	names := make([]string, len(catalog))
	for i, p := range catalog {
		names[i] = p.Name
	}
	return names
}

// Lookup returns the provider called name, or an error that lists the known
// ones.
func Lookup(name string) (Provider, error) {
	for _, p := range catalog {
		if p.Name == name {
			return p.clone(), nil
		}
	}
	return Provider{}, fmt.Errorf("unknown provider %q; the catalog knows %s", name, strings.Join(Names(), ", "))
}

func (p Provider) clone() Provider {
	p.Scopes = slices.Clone(p.Scopes)
	p.TokenParams = maps.Clone(p.TokenParams)
	p.Docs = slices.Clone(p.Docs)
	if p.Host != nil {
		h := *p.Host
		p.Host = &h
	}
	return p
}

// NormalizeHost checks a host given for {host}: a host name, optionally with a
// port, an https:// in front or a slash behind (as copied from a browser), and
// nothing else. It returns the bare host.
func NormalizeHost(raw string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(raw), "https://"), "/")
	u, err := url.Parse("https://" + s)
	if s == "" || err != nil || u.Host != s || u.Hostname() == "" || strings.ContainsAny(s, "{}") {
		return "", fmt.Errorf("%q is not a host name (like acme.example.com): no scheme other than https://, no path, query or user", raw)
	}
	return s, nil
}

// FillHost puts host where rawURL says {host}.
func FillHost(rawURL, host string) string {
	return strings.ReplaceAll(rawURL, HostPlaceholder, host)
}
