// Package authcode connects OAuth accounts with the authorization-code flow, by
// RFC 6749, RFC 7636 (PKCE S256) and RFC 9700: a random single-use state that
// expires, stored hashed with the sealed verifier and the target; a callback
// that checks and consumes it, exchanges the code with the verifier and stores
// the token. Nothing secret travels in the URL but the state.
package authcode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/bifrost/integrations/internal/periodic"
	"github.com/bifrost/integrations/internal/textclip"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/store"
)

// StateLifetime is how long a started connect may take.
const StateLifetime = 10 * time.Minute

// CallbackPath is where providers send the user back.
const CallbackPath = "/oauth/callback"

// Flow starts connects and finishes them in its HTTP handler.
type Flow struct {
	store      *store.Store
	publicURL  string
	httpClient *http.Client
	now        func() time.Time
	logger     *slog.Logger
	audit      func(context.Context, store.AuditEvent) error
}

// Options configure a Flow.
type Options struct {
	// PublicURL is integrationsd's HTTP base URL as browsers reach it (behind a
	// proxy, the proxy's).
	PublicURL string
	// HTTPClient calls the token endpoints.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	// Audit records every callback's outcome.
	Audit func(context.Context, store.AuditEvent) error
}

// New returns a Flow.
func New(st *store.Store, o Options) *Flow {
	f := &Flow{store: st, publicURL: strings.TrimRight(o.PublicURL, "/"), httpClient: o.HTTPClient, now: o.Now, logger: o.Logger, audit: o.Audit}
	if f.httpClient == nil {
		f.httpClient = &http.Client{Timeout: 20 * time.Second}
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	return f
}

// PruneStates deletes expired states now and every interval after, until ctx
// ends. A state works once and briefly, but one never redeemed (a consent
// abandoned halfway) and a redeemed one alike would otherwise stay forever,
// the first with its sealed verifier.
func (f *Flow) PruneStates(ctx context.Context, interval time.Duration) {
	periodic.Run(ctx, interval, func(ctx context.Context) {
		if err := f.store.PruneAuthStates(ctx, f.now()); err != nil && ctx.Err() == nil {
			f.logger.Warn("pruning expired connect states", "error", err)
		}
	})
}

// ErrNotAuthorizationCode is returned by Start for a connection of another flow.
var ErrNotAuthorizationCode = errors.New("not an authorization_code connection")

// Started is what the person connecting needs: where to go, until when.
type Started struct {
	AuthorizationURL string
	State            string
	RedirectURI      string
	ExpiresAt        time.Time
}

// Start begins a connect of connection for orgID (empty: the global token),
// optionally for the org's mapping of integration.
func (f *Flow) Start(ctx context.Context, connection, orgID, integration string) (Started, error) {
	conn, err := f.store.GetConnection(ctx, connection)
	if err != nil {
		return Started{}, err
	}
	if conn.Flow != store.FlowAuthorizationCode || conn.AuthorizationURL == "" {
		return Started{}, fmt.Errorf("oauth connection %q is %w", connection, ErrNotAuthorizationCode)
	}
	entity, err := f.entity(ctx, conn, orgID, integration)
	if err != nil {
		return Started{}, err
	}
	state := randomString()
	verifier := oauth2.GenerateVerifier()
	redirect := f.publicURL + CallbackPath
	expires := f.now().Add(StateLifetime)
	if err := f.store.CreateAuthState(ctx, store.AuthState{
		StateHash: hash(state), ConnectionName: conn.Name, OrgID: orgID, MappingIntegration: integration,
		EntityID: entity, Verifier: verifier, RedirectURI: redirect, ExpiresAt: expires,
	}); err != nil {
		return Started{}, err
	}
	authURL := config(conn, entity, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	return Started{AuthorizationURL: authURL, State: state, RedirectURI: redirect, ExpiresAt: expires}, nil
}

// entity resolves {entity_id} for the URLs: the org's mapping of integration
// when given, else whatever the token would be refreshed with.
func (f *Flow) entity(ctx context.Context, conn store.Connection, orgID, integration string) (string, error) {
	if integration != "" && orgID != "" {
		r, err := f.store.Resolve(ctx, integration, orgID)
		if err != nil {
			return "", err
		}
		return r.EntityID, nil
	}
	return f.store.EntityForToken(ctx, store.Token{ConnectionID: conn.ID, OrgID: orgID})
}

func config(conn store.Connection, entity, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     conn.ClientID,
		ClientSecret: conn.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   oauth.FillEntity(conn.AuthorizationURL, entity),
			TokenURL:  oauth.FillEntity(conn.TokenURL, entity),
			AuthStyle: oauth.AuthStyle(conn),
		},
		RedirectURL: redirect,
		Scopes:      conn.Scopes,
	}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}

// result is what the callback page says.
type result struct {
	OK         bool
	Title      string
	Connection string
	Org        string
	Detail     string
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8">
<title>{{.Title}}</title>
<h1 id="result">{{.Title}}</h1>
{{if .OK}}<p>Connection <b id="connection">{{.Connection}}</b> is connected for <b id="org">{{.Org}}</b>. You can close this window.</p>
{{else}}<p id="detail">{{.Detail}}</p><p>Start the connect again from integrationsctl.</p>{{end}}`))

// ServeHTTP is the callback: GET /oauth/callback?state=...&code=... (or
// &error=...). It never shows a token.
func (f *Flow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	res, status := f.finish(ctx, q)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = page.Execute(w, res)
}

// failed is the page of a connect that did not work, with its HTTP status.
func failed(status int, detail string) (result, int) {
	return result{Title: "Connecting failed", Detail: detail}, status
}

func (f *Flow) finish(ctx context.Context, q url.Values) (result, int) {
	if q.Get("state") == "" {
		return failed(http.StatusBadRequest, "The request carries no state.")
	}
	st, err := f.store.ConsumeAuthState(ctx, hash(q.Get("state")))
	switch {
	case errors.Is(err, store.ErrStateUsed):
		// A second use of a link is a page reloaded, or a redirect replayed by
		// someone who intercepted it: either way the org's trail shows it.
		f.record(ctx, st, "DENIED", "sign-in link already used")
		return failed(http.StatusBadRequest, "This sign-in link was already used.")
	case errors.Is(err, store.ErrStateExpired):
		f.record(ctx, st, "DENIED", "sign-in link expired")
		return failed(http.StatusBadRequest, "This sign-in link has expired.")
	case errors.Is(err, store.ErrStateUnknown):
		return failed(http.StatusBadRequest, "This sign-in link is unknown.")
	case err != nil:
		f.logger.ErrorContext(ctx, "oauth callback: consuming state", "error", err)
		return failed(http.StatusInternalServerError, "Internal error.")
	}
	target := st.OrgID
	if target == "" {
		target = "the global scope"
	}
	res, status := f.exchange(ctx, st, q)
	res.Connection, res.Org = st.ConnectionName, target
	if res.OK {
		f.record(ctx, st, "OK", "")
	} else {
		f.record(ctx, st, "FAILED", res.Detail)
	}
	return res, status
}

// record writes the callback's audit event for the state's organization.
func (f *Flow) record(ctx context.Context, st store.AuthState, outcome, why string) {
	if f.audit == nil {
		return
	}
	detail := "connection " + st.ConnectionName
	if why != "" {
		detail += ": " + why
	}
	event := store.AuditEvent{Method: "oauth/callback", OrgID: st.OrgID, Integration: st.MappingIntegration, Outcome: outcome, Detail: detail}
	if err := f.audit(ctx, event); err != nil {
		f.logger.ErrorContext(ctx, "oauth callback not audited", "error", err)
	}
}

func (f *Flow) exchange(ctx context.Context, st store.AuthState, q url.Values) (result, int) {
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return failed(http.StatusForbidden, "The request was denied at the provider.")
		}
		return failed(http.StatusBadGateway, "The provider answered: "+textclip.Clip(e, 100))
	}
	if q.Get("code") == "" {
		return failed(http.StatusBadRequest, "The provider sent no code.")
	}
	conn, err := f.store.GetConnection(ctx, st.ConnectionName)
	if err != nil {
		return failed(http.StatusNotFound, "The connection no longer exists.")
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(st.Verifier)}
	for k, v := range conn.TokenParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	tok, err := config(conn, st.EntityID, st.RedirectURI).Exchange(context.WithValue(ctx, oauth2.HTTPClient, f.httpClient), q.Get("code"), opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		detail := "The provider could not be reached."
		if errors.As(err, &re) {
			detail = fmt.Sprintf("The provider refused the code (HTTP %d %s).", re.Response.StatusCode, textclip.Clip(re.ErrorCode, 64))
		}
		f.logger.WarnContext(ctx, "oauth callback: code exchange failed", "connection", conn.Name, "org_id", st.OrgID, "detail", detail)
		return failed(http.StatusBadGateway, detail)
	}
	issued := f.now()
	t := store.Token{ConnectionName: conn.Name, OrgID: st.OrgID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, IssuedAt: &issued, FromSignIn: true}
	if !tok.Expiry.IsZero() {
		t.ExpiresAt = &tok.Expiry
	}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		t.Scopes = strings.Fields(s)
	}
	var link []string
	if st.MappingIntegration != "" {
		link = []string{st.MappingIntegration}
	}
	if _, err := f.store.PutToken(ctx, t, link...); err != nil {
		f.logger.ErrorContext(ctx, "oauth callback: storing token", "error", err)
		return failed(http.StatusInternalServerError, "The token could not be stored.")
	}
	f.logger.InfoContext(ctx, "oauth account connected", "connection", conn.Name, "org_id", st.OrgID)
	return result{OK: true, Title: "Connected"}, http.StatusOK
}
