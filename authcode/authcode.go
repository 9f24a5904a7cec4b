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

// Request is what a connect is for.
type Request struct {
	Connection string
	// OrgID is the organization whose account is connected; empty for the
	// global token.
	OrgID string
	// MappingIntegration, when set, names the integration whose mapping of
	// OrgID uses the token.
	MappingIntegration string
	// EntityID, when set, fills {entity_id} in the connection's URLs, and the
	// mapping of MappingIntegration is bound to it once connected, so that
	// the token is refreshed at the entity that issued it. Empty: the
	// entity the token would be refreshed at (the mapping's, else the
	// integration's default).
	EntityID string
}

// RequestError is a Start refused because of one field of its Request.
type RequestError struct {
	Field  string // as the API names it: entity_id, mapping_integration
	Reason string
}

func (e *RequestError) Error() string { return e.Field + ": " + e.Reason }

// Started is what the person connecting needs: where to go, until when; and
// what the admin who started it needs: the state, to learn its outcome by.
type Started struct {
	AuthorizationURL string
	State            string
	RedirectURI      string
	ExpiresAt        time.Time
}

// Start begins a connect.
func (f *Flow) Start(ctx context.Context, req Request) (Started, error) {
	conn, err := f.store.GetConnection(ctx, req.Connection)
	if err != nil {
		return Started{}, err
	}
	if conn.Flow != store.FlowAuthorizationCode || conn.AuthorizationURL == "" {
		return Started{}, fmt.Errorf("oauth connection %q is %w", req.Connection, ErrNotAuthorizationCode)
	}
	entity, bind, err := f.entity(ctx, conn, req)
	if err != nil {
		return Started{}, err
	}
	state := randomString()
	verifier := oauth2.GenerateVerifier()
	redirect := f.publicURL + CallbackPath
	expires := f.now().Add(StateLifetime)
	if err := f.store.CreateAuthState(ctx, store.AuthState{
		StateHash: hash(state), ConnectionName: conn.Name, OrgID: req.OrgID, MappingIntegration: req.MappingIntegration,
		EntityID: entity, BindEntity: bind, Verifier: verifier, RedirectURI: redirect, ExpiresAt: expires,
	}); err != nil {
		return Started{}, err
	}
	authURL := config(conn, entity, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	return Started{AuthorizationURL: authURL, State: state, RedirectURI: redirect, ExpiresAt: expires}, nil
}

// entity resolves {entity_id} for the URLs, and whether the mapping is to be
// bound to it: the entity the request names, where the token can be
// refreshed at it; else the org's mapping's when a mapping is named, else
// whatever the token would be refreshed with.
func (f *Flow) entity(ctx context.Context, conn store.Connection, req Request) (entity string, bind bool, err error) {
	var mapped *store.Resolved
	if req.MappingIntegration != "" && req.OrgID != "" {
		if mapped, err = f.store.Resolve(ctx, req.MappingIntegration, req.OrgID); err != nil {
			return "", false, err
		}
		if mapped.Connection == nil || mapped.Connection.ID != conn.ID {
			return "", false, &RequestError{"mapping_integration", fmt.Sprintf("integration %q does not use oauth connection %q", req.MappingIntegration, conn.Name)}
		}
	}
	if req.EntityID == "" {
		if mapped != nil {
			return mapped.EntityID, false, nil
		}
		entity, err := f.store.EntityForToken(ctx, store.Token{ConnectionID: conn.ID, OrgID: req.OrgID})
		return entity, false, err
	}
	// A token is refreshed at the entity of the org's mapping (or, global,
	// the integration's default): an entity named here must become that, or
	// the first refresh would go to another tenant.
	var current string
	if mapped != nil && mapped.Mapping != nil {
		current = mapped.Mapping.EntityID
	}
	switch {
	case !strings.Contains(conn.AuthorizationURL+conn.TokenURL, "{entity_id}"):
		return "", false, &RequestError{"entity_id", fmt.Sprintf("oauth connection %q's URLs do not use {entity_id}, so an entity would change nothing; connect without one", conn.Name)}
	case req.OrgID == "":
		return "", false, &RequestError{"entity_id", "a global token is refreshed at its integration's default entity; set that (integrations update --default-entity-id) instead of naming one here"}
	case mapped == nil:
		return "", false, &RequestError{"entity_id", "needs mapping_integration: the token is refreshed at the entity of the organization's mapping, which the connect then binds to this entity"}
	case current != "" && !strings.EqualFold(current, req.EntityID):
		return "", false, &RequestError{"entity_id", fmt.Sprintf("organization %q's mapping of integration %q is bound to entity %q; change the mapping first, or connect without an entity", req.OrgID, req.MappingIntegration, current)}
	case current != "":
		return current, false, nil
	}
	if err := f.store.CheckEntityFree(ctx, req.MappingIntegration, req.OrgID, req.EntityID); err != nil {
		return "", false, err
	}
	return req.EntityID, true, nil
}

// Outcome returns the connect state started, with what became of it so far.
func (f *Flow) Outcome(ctx context.Context, state string) (store.AuthState, error) {
	return f.store.AuthStateByHash(ctx, hash(state))
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
	// forAdmins, when set, says more than Detail, for the outcome and the
	// audit log only: the page is shown to whoever signs in.
	forAdmins string
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
	res, status, outcome := f.exchange(ctx, st, q)
	res.Connection, res.Org = st.ConnectionName, target
	if res.OK {
		f.record(ctx, st, "OK", "")
		return res, status
	}
	// The admin waiting on this connect learns why at once, from the state
	// (a connected one was settled with its token by the exchange).
	why := res.Detail
	if res.forAdmins != "" {
		why = res.forAdmins
	}
	if err := f.store.SettleAuthState(ctx, st, outcome, why); err != nil {
		f.logger.ErrorContext(ctx, "oauth callback: recording the outcome", "error", err)
	}
	f.record(ctx, st, "FAILED", why)
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

// exchange redeems the callback's code and stores the token, settling st
// CONNECTED with it; otherwise it says how the connect ended (denied or
// failed) for finish to record.
func (f *Flow) exchange(ctx context.Context, st store.AuthState, q url.Values) (result, int, store.AuthOutcome) {
	if e := q.Get("error"); e != "" {
		said := ""
		if d := q.Get("error_description"); d != "" {
			said = ": " + textclip.Clip(d, 200)
		}
		if e == "access_denied" {
			res, status := failed(http.StatusForbidden, "The request was denied at the provider"+said+".")
			return res, status, store.AuthDenied
		}
		res, status := failed(http.StatusBadGateway, "The provider answered "+textclip.Clip(e, 100)+said+".")
		return res, status, store.AuthFailed
	}
	res, status := f.redeem(ctx, st, q)
	return res, status, store.AuthFailed // a connected one is settled already
}

func (f *Flow) redeem(ctx context.Context, st store.AuthState, q url.Values) (result, int) {
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
	if _, err := f.store.ConnectAuthState(ctx, st, t); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrForbidden) {
			// The mapping could not take the token or the entity (another
			// organization bound it meanwhile): the store says which, to
			// admins; the page says nothing of other organizations.
			res, status := failed(http.StatusConflict, "The token could not be linked to the organization's mapping.")
			res.forAdmins = "The token could not be linked to the organization's mapping: " + textclip.Clip(err.Error(), 200) + "."
			return res, status
		}
		f.logger.ErrorContext(ctx, "oauth callback: storing token", "error", err)
		return failed(http.StatusInternalServerError, "The token could not be stored.")
	}
	f.logger.InfoContext(ctx, "oauth account connected", "connection", conn.Name, "org_id", st.OrgID)
	return result{OK: true, Title: "Connected"}, http.StatusOK
}
