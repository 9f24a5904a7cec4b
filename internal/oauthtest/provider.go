// Package oauthtest is an OAuth 2.0 token endpoint for tests that behaves like
// strict real providers: refresh tokens rotate on every use and a used one is
// answered with invalid_grant, clients must authenticate, and it can be slowed
// down or made to fail on demand.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Provider is a running token endpoint. Its URL is TokenURL(); a path segment
// before /token is recorded as the entity (tenant) the token was asked for.
type Provider struct {
	Server       *httptest.Server
	ClientID     string
	ClientSecret string

	mu sync.Mutex
	// live refresh tokens; a used one is deleted (rotation), so reuse fails.
	refresh map[string]bool
	// access tokens issued, with their expiry.
	access map[string]time.Time
	// calls counts token requests by grant type; entities by entity path.
	calls    map[string]int
	entities map[string]int
	// refreshedAt counts refresh_token grants by the lineage of the refresh
	// token presented, then by the entity it was presented for.
	refreshedAt map[string]map[string]int
	// renewed holds the lineages a refresh_token grant issued a token of.
	renewed  map[string]bool
	params   []url.Values
	lifetime time.Duration
	delay    time.Duration
	// failures queued: each request pops one status (0 = answer normally).
	failures []int
	// rotate off: refresh responses carry no refresh_token (the old one stays good).
	rotate        bool
	dead          bool
	deadSaying    string // error_description of the invalid_grant answers
	postAuth      bool
	arrived       int
	issuedRefresh []string
	// expiresWith is, per live refresh token, when the access token issued
	// with it expires; leftAtRefresh, for each refresh, how long that access
	// token had left when the request arrived.
	expiresWith   map[string]time.Time
	leftAtRefresh []time.Duration
	// answering is how many requests are being answered now; mostAnswering
	// the most there ever were at once.
	answering, mostAnswering int
	// codes issued by the consent page, single-use.
	codes map[string]*authCode
}

// authCode is what an authorization code was issued for.
type authCode struct {
	clientID, redirectURI, challenge string
	used                             bool
}

// New starts a provider until the test ends. Tokens live lifetime.
func New(t testing.TB, lifetime time.Duration) *Provider {
	p := Start(lifetime)
	t.Cleanup(p.Close)
	return p
}

// Start starts a provider outside a test (the benchmark); Close stops it.
func Start(lifetime time.Duration) *Provider {
	p := &Provider{
		ClientID: "test-client", ClientSecret: "test-client-secret",
		refresh: map[string]bool{}, access: map[string]time.Time{},
		calls: map[string]int{}, entities: map[string]int{}, refreshedAt: map[string]map[string]int{}, renewed: map[string]bool{}, codes: map[string]*authCode{},
		lifetime: lifetime, rotate: true, expiresWith: map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.serveConsent)
	mux.HandleFunc("POST /authorize", p.serveDecision)
	mux.HandleFunc("/", p.serveToken)
	p.Server = httptest.NewServer(mux)
	return p
}

// Close stops the provider.
func (p *Provider) Close() { p.Server.Close() }

// TokenURL is the endpoint with an {entity_id} placeholder, as a connection
// would store it.
func (p *Provider) TokenURL() string { return p.Server.URL + "/{entity_id}/token" }

// Issue returns a fresh access and refresh token pair, as an authorization-code
// exchange would have.
func (p *Provider) Issue() (access, refresh string) { return p.IssueFor("") }

// IssueFor is Issue with tokens of lineage: every token this provider issues
// by refreshing one of them carries it too, so a test can tell whose grant any
// token it meets descends from (Lineage). Client-credentials tokens carry the
// lineage "entity:" and the entity they were asked for.
func (p *Provider) IssueFor(lineage string) (access, refresh string) {
	return p.IssueUntil(lineage, time.Now().Add(p.lifetime))
}

// IssueUntil is IssueFor with the access token expiring at expiry, as the
// token is then put with that expiry.
func (p *Provider) IssueUntil(lineage string, expiry time.Time) (access, refresh string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	access, refresh = "at-"+labelled(lineage), "rt-"+labelled(lineage)
	p.access[access] = expiry
	p.expiresWith[refresh] = p.access[access]
	p.refresh[refresh] = true
	p.issuedRefresh = append(p.issuedRefresh, refresh)
	return access, refresh
}

// SetDelay makes every answer wait d.
func (p *Provider) SetDelay(d time.Duration) { p.mu.Lock(); p.delay = d; p.mu.Unlock() }

// FailNext makes the next len(statuses) requests answer with these HTTP
// statuses (503, 429, ...).
func (p *Provider) FailNext(statuses ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, statuses...)
}

// SetRotation switches refresh-token rotation on or off.
func (p *Provider) SetRotation(on bool) { p.mu.Lock(); p.rotate = on; p.mu.Unlock() }

// RequirePostAuth makes the provider accept client credentials only in the
// form body (client_secret_post), as some providers do: Basic is rejected.
func (p *Provider) RequirePostAuth() { p.mu.Lock(); p.postAuth = true; p.mu.Unlock() }

// clientAuthenticatedLocked checks the client's credentials the one way the
// provider accepts; a request using two methods at once is refused, as RFC
// 6749 section 2.3 forbids it.
func (p *Provider) clientAuthenticatedLocked(r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	inBody := r.PostForm.Has("client_secret")
	switch {
	case basic && inBody, p.postAuth && basic, !p.postAuth && !basic:
		return false
	case p.postAuth:
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && secret == p.ClientSecret
}

// RevokeGrants makes every refresh token invalid, as a user revoking consent.
func (p *Provider) RevokeGrants() { p.RevokeGrantsSaying("") }

// RevokeGrantsSaying is RevokeGrants with an error_description in the answers,
// as real providers send (in any language, of any length).
func (p *Provider) RevokeGrantsSaying(description string) {
	p.mu.Lock()
	p.dead, p.deadSaying = true, description
	p.mu.Unlock()
}

// Calls returns how many token requests of grantType were made.
func (p *Provider) Calls(grantType string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[grantType]
}

// Arrived is how many token requests reached the provider, answered or not.
func (p *Provider) Arrived() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.arrived
}

// RefreshedLineages is how many lineages (but the empty one) have had a
// refresh answered with a new token: one refused (invalid_grant) renewed
// nothing.
func (p *Provider) RefreshedLineages() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for lineage := range p.renewed {
		if lineage != "" {
			n++
		}
	}
	return n
}

// MostAtOnce is the most token requests the provider was answering at once.
func (p *Provider) MostAtOnce() int { p.mu.Lock(); defer p.mu.Unlock(); return p.mostAnswering }

// LeftAtRefresh is, for each refresh the provider answered, how long the
// access token issued with the refresh token presented had left when the
// request arrived: how early (or, below zero, how late) it was renewed.
func (p *Provider) LeftAtRefresh() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.leftAtRefresh...)
}

// InvalidGrants is how many requests were refused with invalid_grant.
func (p *Provider) InvalidGrants() int { return p.Calls("invalid_grant") }

// EntityCalls returns how many token requests named entity in their path.
func (p *Provider) EntityCalls(entity string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.entities[entity]
}

// RefreshedAt returns, by entity, how many refresh_token grants presented a
// refresh token of lineage.
func (p *Provider) RefreshedAt(lineage string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for entity, n := range p.refreshedAt[lineage] {
		out[entity] = n
	}
	return out
}

// LastParams returns the form parameters of the last request.
func (p *Provider) LastParams() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.params) == 0 {
		return nil
	}
	return p.params[len(p.params)-1]
}

// Issued returns every access and refresh token this provider handed out, for
// tests that search logs and records for leaks.
func (p *Provider) Issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.access)+len(p.issuedRefresh))
	for a := range p.access {
		out = append(out, a)
	}
	return append(out, p.issuedRefresh...)
}

// Valid reports whether access is a live access token this provider issued.
func (p *Provider) Valid(access string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	exp, ok := p.access[access]
	return ok && time.Now().Before(exp)
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	arrivedAt := time.Now()
	p.mu.Lock()
	delay := p.delay
	p.arrived++
	p.answering++
	p.mostAnswering = max(p.mostAnswering, p.answering)
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.answering--; p.mu.Unlock() }()
	time.Sleep(delay)
	if r.Context().Err() != nil {
		// The client went away while we were slow: like a provider whose
		// transaction rolls back, nothing is issued or rotated.
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	grant := r.PostForm.Get("grant_type")
	p.calls[grant]++
	entity := strings.Trim(strings.TrimSuffix(r.URL.EscapedPath(), "/token"), "/")
	p.entities[entity]++
	p.params = append(p.params, r.PostForm)
	if len(p.failures) > 0 {
		status := p.failures[0]
		p.failures = p.failures[1:]
		if status != 0 {
			http.Error(w, "temporarily unavailable", status)
			return
		}
	}
	if !p.clientAuthenticatedLocked(r) {
		p.calls["invalid_client"]++
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	switch grant {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if p.refreshedAt[Lineage(rt)] == nil {
			p.refreshedAt[Lineage(rt)] = map[string]int{}
		}
		p.refreshedAt[Lineage(rt)][entity]++
		if p.dead || !p.refresh[rt] {
			p.calls["invalid_grant"]++
			oauthError(w, http.StatusBadRequest, "invalid_grant", p.deadSaying)
			return
		}
		if expiry, ok := p.expiresWith[rt]; ok {
			p.leftAtRefresh = append(p.leftAtRefresh, expiry.Sub(arrivedAt))
		}
		resp := p.issueLocked(Lineage(rt))
		p.renewed[Lineage(rt)] = true
		next := rt
		if p.rotate {
			delete(p.refresh, rt)
			delete(p.expiresWith, rt)
			next = "rt-" + labelled(Lineage(rt))
			resp["refresh_token"] = next
			p.refresh[next] = true
			p.issuedRefresh = append(p.issuedRefresh, next)
		}
		p.expiresWith[next] = p.access[resp["access_token"].(string)]
		writeJSON(w, resp)
	case "client_credentials":
		writeJSON(w, p.issueLocked("entity:"+entity))
	case "authorization_code":
		p.exchangeCodeLocked(w, r)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

func (p *Provider) issueLocked(lineage string) map[string]any {
	access := "at-" + labelled(lineage)
	p.access[access] = time.Now().Add(p.lifetime)
	return map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(p.lifetime / time.Second)}
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// labelled is a random token value of lineage.
func labelled(lineage string) string {
	if lineage == "" {
		return random()
	}
	return lineage + "~" + random()
}

// Lineage is the lineage a token of this provider carries (see IssueFor);
// empty for none.
func Lineage(token string) string {
	_, rest, _ := strings.Cut(token, "-")
	lineage, _, found := strings.Cut(rest, "~")
	if !found {
		return ""
	}
	return lineage
}

func random() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthorizeURL is the consent page's address.
func (p *Provider) AuthorizeURL() string { return p.Server.URL + "/authorize" }

// Decide plays the person at the consent page of authorization (the link
// integrationsd handed out), submitting decision ("approve" or "deny"), and
// returns where the provider sends the browser back to, without going there.
func (p *Provider) Decide(authorization *url.URL, decision string) (string, error) {
	q := authorization.Query()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(p.AuthorizeURL(), url.Values{
		"client_id": {q.Get("client_id")}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")},
		"code_challenge": {q.Get("code_challenge")}, "decision": {decision},
	})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("the consent form answered %s, not a redirect", resp.Status)
	}
	return resp.Header.Get("Location"), nil
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<title>Test provider: consent</title>
<h1>Allow {{.ClientID}} to access your account?</h1>
<form method="post" action="/authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}">
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button>
</form>`))

// serveConsent is the authorization endpoint: it insists on a known client and
// a PKCE S256 challenge, then asks the user.
func (p *Provider) serveConsent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != p.ClientID || q.Get("redirect_uri") == "" ||
		q.Get("state") == "" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "invalid authorization request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, map[string]string{
		"ClientID": q.Get("client_id"), "RedirectURI": q.Get("redirect_uri"), "State": q.Get("state"), "Challenge": q.Get("code_challenge"),
	})
}

// serveDecision redirects back with a single-use code, or with access_denied.
func (p *Provider) serveDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(r.PostForm.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := back.Query()
	q.Set("state", r.PostForm.Get("state"))
	if r.PostForm.Get("decision") != "approve" {
		q.Set("error", "access_denied")
		q.Set("error_description", "The user denied the request")
	} else {
		code := "code-" + random()
		p.mu.Lock()
		p.codes[code] = &authCode{clientID: r.PostForm.Get("client_id"), redirectURI: back.String(), challenge: r.PostForm.Get("code_challenge")}
		p.mu.Unlock()
		q.Set("code", code)
	}
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// exchangeCodeLocked redeems a code once, for the client and redirect URI it
// was issued to, with the PKCE verifier of its challenge.
func (p *Provider) exchangeCodeLocked(w http.ResponseWriter, r *http.Request) {
	c, ok := p.codes[r.PostForm.Get("code")]
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || c.used || c.redirectURI != r.PostForm.Get("redirect_uri") ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		p.calls["invalid_grant"]++
		oauthError(w, http.StatusBadRequest, "invalid_grant", "")
		return
	}
	c.used = true
	resp := p.issueLocked("")
	rt := "rt-" + random()
	p.refresh[rt] = true
	p.issuedRefresh = append(p.issuedRefresh, rt)
	resp["refresh_token"] = rt
	resp["scope"] = "User.Read offline_access"
	writeJSON(w, resp)
}
