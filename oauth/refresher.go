// Package oauth keeps OAuth tokens valid: it refreshes them on read and ahead of
// expiry, exactly once however many callers and replicas need it, and records
// what failed so that a dead grant stops being retried and an outage backs off.
//
// golang.org/x/oauth2 does the token exchanges; coalescing, leases, persistence
// and scheduling are here.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/bifrost/integrations/internal/textclip"
	"github.com/bifrost/integrations/store"
)

// Reasons a token demand cannot be met, as ErrorInfo reasons.
const (
	ReasonRefreshFailed = "REFRESH_FAILED"
	ReasonNeedsReauth   = "NEEDS_REAUTH"
	// ReasonLifetimeTooShort: the provider's fresh tokens live shorter than asked.
	ReasonLifetimeTooShort = "TOKEN_LIFETIME_TOO_SHORT"
)

// UnmetError says why a token that was demanded (force_refresh, min_validity)
// cannot be handed out. It never holds a secret.
type UnmetError struct {
	Reason  string
	Message string
}

func (e *UnmetError) Error() string { return e.Message }

// DefaultLeaseTTL is how long a refresh holds its token by default. A read
// that finds the lease of a replica that died waits out the rest of it, then
// refreshes itself (LongestWait): 24 s, within the 30 s a server gives a
// call.
const DefaultLeaseTTL = 12 * time.Second

// LongestWait is the longest a read can wait for a token's refresh when
// leases last lease: the rest of a lease another replica took and never
// released (it died), at most lease, then a refresh of its own under a lease
// of its own, which ends within lease too (providerTimeout). A refresh gives
// up when it is over. A server that caps its calls must give them longer.
func LongestWait(lease time.Duration) time.Duration { return 2 * lease }

// providerTimeout is how long the provider may take to answer a refresh:
// two thirds of the lease, counted from when the lease was taken. The last
// third is for storing the answer while the lease still holds: an answer
// stored after the lease ran out is discarded (store.ErrLeaseLost) and,
// when the provider rotated the refresh token, lost with it; and another
// replica could have taken the lease and called the provider meanwhile.
func providerTimeout(lease time.Duration) time.Duration { return lease * 2 / 3 }

// Options tune a Refresher; zero values take the defaults.
type Options struct {
	// HTTPClient calls the providers (default: http.Client{}). Whatever its
	// timeout, a provider gets two thirds of LeaseTTL to answer.
	HTTPClient *http.Client
	// LeaseTTL bounds how long one refresh may hold a token (default
	// DefaultLeaseTTL); a replica that dies holding a lease blocks the token
	// at most this long.
	LeaseTTL time.Duration
	// PollInterval is how often a caller checks on another replica's refresh.
	PollInterval time.Duration
	// BackoffBase and BackoffMax bound the wait after failed refreshes: base,
	// doubling per failure, at most max, with jitter (defaults 30s and 1h).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Ahead is how long before a token enters its margin the background
	// refresher renews it (default 30s).
	Ahead time.Duration
	// Interval is how often the background refresher looks (default 5s).
	Interval time.Duration
	// Concurrency bounds background refreshes in flight (default 64), and
	// ConnectionConcurrency those against one connection's provider
	// (default 4).
	Concurrency           int
	ConnectionConcurrency int
	// SharedForceInterval is how soon after a refresh of the global token a
	// forced refresh of it is honoured again (default 1m). Every organization
	// reads that token: within the interval a forced read gets the token just
	// refreshed instead of making the provider refresh it again.
	SharedForceInterval time.Duration
	Now                 func() time.Time
	Logger              *slog.Logger
	// Audit records every refresh and its outcome; nil records nothing.
	Audit func(context.Context, store.AuditEvent) error
	// Metrics receives bifrost_token_refreshes_total by outcome; nil for none.
	Metrics prometheus.Registerer
	// afterExchange runs between the provider's answer and the write, so tests
	// can kill a refresh there.
	afterExchange func(context.Context) error
}

// Refresher is safe for concurrent use; one per process.
type Refresher struct {
	store     *store.Store
	opts      Options
	owner     string
	group     singleflight.Group
	refreshes *prometheus.CounterVec
	// readsWaited counts the reads (Ensure) that waited on a refresh.
	readsWaited prometheus.Counter
	exchanges   exchanges
}

// exchanges counts the refreshes between calling the provider and storing its
// answer: a process that stops must let them finish, or a refresh token the
// provider rotated is lost with it. Once draining, no new exchange starts.
type exchanges struct {
	mu       sync.Mutex
	running  int
	draining bool
	idle     chan struct{} // closed when running drops to 0 while draining
}

// ErrDraining refuses a refresh that would start while the process stops:
// another replica can do it (UNAVAILABLE, retryable).
var ErrDraining = errors.New("this replica is shutting down: the token's refresh did not start")

func (e *exchanges) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return false
	}
	e.running++
	return true
}

func (e *exchanges) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running--; e.running == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
}

// Drain stops new refreshes from calling providers and waits until those
// already calling one have stored the answer (or recorded the failure), or
// ctx ends. A process calls it on shutdown before closing the store.
func (r *Refresher) Drain(ctx context.Context) error {
	e := &r.exchanges
	e.mu.Lock()
	e.draining = true
	if e.running == 0 {
		e.mu.Unlock()
		return nil
	}
	if e.idle == nil {
		e.idle = make(chan struct{})
	}
	idle := e.idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("refreshes still storing their provider's answer: %w", ctx.Err())
	}
}

// New returns a Refresher whose leases are owned by a fresh random ID.
func New(st *store.Store, opts Options) *Refresher {
	setDefault(&opts.LeaseTTL, DefaultLeaseTTL)
	setDefault(&opts.PollInterval, 50*time.Millisecond)
	setDefault(&opts.BackoffBase, 30*time.Second)
	setDefault(&opts.BackoffMax, time.Hour)
	setDefault(&opts.Ahead, 30*time.Second)
	setDefault(&opts.Interval, 5*time.Second)
	setDefault(&opts.SharedForceInterval, time.Minute)
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.ConnectionConcurrency <= 0 {
		opts.ConnectionConcurrency = 4
	}
	if opts.HTTPClient == nil {
		// Many connections share a provider's host: keep as many idle
		// connections to it as refreshes may run at once, instead of
		// net/http's two, so that a burst of refreshes reuses them rather
		// than opening (and discarding) one per refresh.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = opts.Concurrency
		opts.HTTPClient = &http.Client{Transport: transport}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Refresher{store: st, opts: opts, owner: uuid.NewString(),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bifrost_token_refreshes_total",
			Help: "Token exchanges with providers, by outcome (ok, refresh_failed, needs_reauth, error).",
		}, []string{"outcome"})}
	// Every outcome is exported from the start, at zero, so that a rate or an
	// alert over one is defined before the first exchange that ends in it.
	for _, outcome := range []string{outcomeOK, ReasonRefreshFailed, ReasonNeedsReauth, outcomeError} {
		r.refreshes.WithLabelValues(strings.ToLower(outcome))
	}
	r.readsWaited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bifrost_token_reads_waited_total",
		Help: "Reads that waited for a refresh of the token they return (refreshed on read, or joined a refresh in flight): the background refresher was late, or the read forced a refresh.",
	})
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(r.refreshes, r.readsWaited)
	}
	return r
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Need is what a caller demands of a token.
type Need struct {
	Force       bool
	MinValidity time.Duration
}

// Demanding reports whether the caller asked for more than the stored token:
// then a token that cannot be had is an error, not a status.
func (n Need) Demanding() bool { return n.Force || n.MinValidity > 0 }

// Ensure returns the token fresh enough for need: refreshed first when it
// expires within the connection's margin (or need asks more). When a refresh is
// impossible or fails, it returns the stored token with its status, unless need
// demanded more: then an *UnmetError. The result may be t itself: neither may
// be changed. A refresh fills the token URL with the entity of the token's
// owner (store.EntityForToken), never the reader's: the global token read by
// an organization is still the global scope's.
//
// Every GetIntegration comes through here, mostly to learn that the token is
// fresh: tokens and connections go by pointer and the refresh is a call of its
// own, so that this path keeps a small stack frame: a read deeper than 8 KiB
// doubles a gRPC worker's stack, a copy the worker makes again after every GC
// that shrank it.
func (r *Refresher) Ensure(ctx context.Context, t *store.Token, conn *store.Connection, need Need) (*store.Token, error) {
	now := r.opts.Now()
	if need.Demanding() && r.recentlyRefreshedShared(t, now) {
		// As fresh as a refresh would make it: what it cannot give, another
		// refresh right away would not either.
		need.Force = false
		if left := t.ExpiresAt.Sub(now); need.MinValidity > left {
			return t, r.unmet(need, lifetimeTooShort(left, need.MinValidity))
		}
	}
	want := max(t.Schedule().Margin(conn.RefreshMargin), need.MinValidity)
	if !need.Force && (t.ExpiresAt == nil || t.ExpiresAt.Sub(now) >= want) {
		return t, nil
	}
	return r.renew(ctx, t, conn, need, now)
}

// recentlyRefreshedShared says whether t is the global token, refreshed less
// than SharedForceInterval ago: no organization's worker can make the provider
// refresh a token every organization shares at will, by force_refresh or by
// a min_validity only a new token could meet.
func (r *Refresher) recentlyRefreshedShared(t *store.Token, now time.Time) bool {
	return t.OrgID == "" && t.LastRefreshedAt != nil && t.ExpiresAt != nil && now.Sub(*t.LastRefreshedAt) < r.opts.SharedForceInterval
}

// renew is Ensure for a token that needs a refresh.
func (r *Refresher) renew(ctx context.Context, t *store.Token, conn *store.Connection, need Need, now time.Time) (*store.Token, error) {
	if err := r.refreshable(t, conn, now); err != nil {
		return t, r.unmet(need, err)
	}
	// A refresh would bring a token that lives as long as this one did: asking
	// the provider again, read after read, cannot meet min_validity.
	if life, known := t.Schedule().Lifetime(); known && !need.Force && need.MinValidity > 0 && need.MinValidity >= life {
		return t, lifetimeTooShort(life, need.MinValidity)
	}
	entity, err := r.store.EntityForToken(ctx, *t)
	if err != nil {
		return nil, err
	}
	r.readsWaited.Inc()
	refreshed, err := r.refresh(ctx, t.ID, *conn, entity, t.Version)
	if err != nil {
		var unmet *UnmetError
		if !errors.As(err, &unmet) {
			return nil, err
		}
		current, loadErr := r.store.TokenWithSecrets(ctx, t.ID)
		if loadErr != nil {
			return nil, loadErr
		}
		return &current, r.unmet(need, unmet)
	}
	if need.MinValidity > 0 && refreshed.ExpiresAt != nil {
		if left := refreshed.ExpiresAt.Sub(r.opts.Now()); left < need.MinValidity {
			return &refreshed, lifetimeTooShort(left, need.MinValidity)
		}
	}
	return &refreshed, nil
}

func lifetimeTooShort(life, asked time.Duration) *UnmetError {
	return &UnmetError{Reason: ReasonLifetimeTooShort,
		Message: fmt.Sprintf("the provider's tokens live %s, less than the %s asked for", life.Round(time.Second), asked)}
}

// unmet returns err only to callers that demanded a fresh token.
func (r *Refresher) unmet(need Need, err *UnmetError) error {
	if need.Demanding() {
		return err
	}
	return nil
}

// refreshable says why a token cannot be refreshed now, or nil.
func (r *Refresher) refreshable(t *store.Token, conn *store.Connection, now time.Time) *UnmetError {
	switch {
	case t.Status == store.TokenNeedsReauth:
		return &UnmetError{Reason: ReasonNeedsReauth, Message: "the token needs to be connected again: " + t.LastError}
	case conn.Flow != store.FlowClientCredentials && !t.HasRefreshToken:
		return &UnmetError{Reason: ReasonNeedsReauth, Message: "the token has no refresh token; connect the account again"}
	case t.Status == store.TokenRefreshFailed && t.NextRefreshAt != nil && now.Before(*t.NextRefreshAt):
		return &UnmetError{Reason: ReasonRefreshFailed,
			Message: fmt.Sprintf("refresh failed (%s); next attempt at %s", t.LastError, t.NextRefreshAt.Format(time.RFC3339))}
	}
	return nil
}

// refresh coalesces every caller in this process on one refresh of the token
// row; each waits at most until its own deadline, while the refresh itself runs
// to its end for the others.
func (r *Refresher) refresh(ctx context.Context, tokenID string, conn store.Connection, entityID string, seenVersion int64) (store.Token, error) {
	ch := r.group.DoChan(tokenID, func() (any, error) {
		// At most one lease term waiting for another replica, one refreshing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LongestWait(r.opts.LeaseTTL))
		defer cancel()
		return r.refreshOnce(rctx, tokenID, conn, entityID, seenVersion)
	})
	select {
	case <-ctx.Done():
		return store.Token{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return store.Token{}, res.Err
		}
		return res.Val.(store.Token), nil
	}
}

// refreshOnce refreshes under the database lease, so that across replicas the
// provider sees one call. A token whose version moved past seenVersion was
// refreshed (or replaced) by someone else meanwhile and is returned as it is.
func (r *Refresher) refreshOnce(ctx context.Context, tokenID string, conn store.Connection, entityID string, seenVersion int64) (store.Token, error) {
	for {
		// The lease runs from before it is asked for, on the clock that
		// bounds the provider's answer.
		answerBy := time.Now().Add(providerTimeout(r.opts.LeaseTTL))
		acquired, err := r.store.AcquireLease(ctx, tokenID, r.owner, r.opts.Now().Add(r.opts.LeaseTTL))
		if err != nil {
			return store.Token{}, err
		}
		t, err := r.store.TokenWithSecrets(ctx, tokenID)
		if err != nil {
			return store.Token{}, err
		}
		if t.Version > seenVersion {
			if acquired {
				return t, r.store.ReleaseLease(ctx, tokenID, r.owner)
			}
			return t, nil
		}
		if acquired {
			return r.exchangeAndStore(ctx, t, conn, entityID, answerBy)
		}
		select {
		case <-ctx.Done():
			return store.Token{}, fmt.Errorf("waiting for another replica's refresh: %w", ctx.Err())
		case <-time.After(r.opts.PollInterval):
		}
	}
}

// exchangeAndStore calls the provider, which must answer by answerBy, while
// holding the token's lease, and stores the answer.
func (r *Refresher) exchangeAndStore(ctx context.Context, t store.Token, conn store.Connection, entityID string, answerBy time.Time) (store.Token, error) {
	// A token goes only to the connection that issued it, whatever linked the
	// two (a mapping written before its integration changed connection).
	if t.ConnectionID != conn.ID {
		return store.Token{}, errors.Join(fmt.Errorf("oauth token %s was issued by another connection than %q", t.ID, conn.Name),
			r.store.ReleaseLease(ctx, t.ID, r.owner))
	}
	// A client-credentials token is minted for its entity: never once another
	// organization holds it (the store deletes such a token).
	if conn.Flow == store.FlowClientCredentials {
		if err := r.store.DropIfEntityOfAnother(ctx, t); err != nil {
			return store.Token{}, errors.Join(err, r.store.ReleaseLease(ctx, t.ID, r.owner))
		}
	}
	// Another replica may have failed on this token just before us: honour the
	// state it recorded instead of calling the provider again.
	if err := r.refreshable(&t, &conn, r.opts.Now()); err != nil {
		if releaseErr := r.store.ReleaseLease(ctx, t.ID, r.owner); releaseErr != nil {
			return store.Token{}, releaseErr
		}
		return store.Token{}, err
	}
	if !r.exchanges.begin() {
		return store.Token{}, errors.Join(ErrDraining, r.store.ReleaseLease(ctx, t.ID, r.owner))
	}
	defer r.exchanges.end()
	exchangeCtx, cancel := context.WithDeadline(ctx, answerBy)
	fresh, err := r.exchange(exchangeCtx, t, conn, entityID)
	cancel()
	if hook := r.opts.afterExchange; hook != nil {
		if hookErr := hook(ctx); hookErr != nil {
			return store.Token{}, hookErr
		}
	}
	if err != nil {
		failure := r.recordFailure(ctx, t, conn, err)
		r.audit(ctx, t, conn, failure)
		return store.Token{}, failure
	}
	stored, err := r.storeRefreshed(ctx, t.ID, store.Refreshed{
		AccessToken:  fresh.AccessToken,
		RefreshToken: fresh.RefreshToken,
		TokenType:    fresh.TokenType,
		ExpiresAt:    expiry(fresh),
	}, t.Version)
	if errors.Is(err, store.ErrLeaseLost) {
		r.opts.Logger.WarnContext(ctx, "refresh result discarded: the lease was lost or the token replaced", "token_id", t.ID)
		return r.store.TokenWithSecrets(ctx, t.ID)
	}
	if err != nil {
		return store.Token{}, err
	}
	r.opts.Logger.InfoContext(ctx, "token refreshed", "token_id", t.ID, "connection", conn.Name, "org_id", t.OrgID, "version", stored.Version)
	r.audit(ctx, t, conn, nil)
	return stored, nil
}

// storeRefreshed stores what the provider answered, retrying while the database
// is unreachable or the write keeps colliding with concurrent ones (the store
// retries a collision a few times itself), for as long as the refresh may
// take: the provider has rotated
// the refresh token already, so an answer not stored is a token lost (the next
// refresh would present a dead refresh token). A retry after a commit whose
// acknowledgement was lost finds the version moved and reports ErrLeaseLost,
// after which the caller reads what was stored.
func (r *Refresher) storeRefreshed(ctx context.Context, tokenID string, fresh store.Refreshed, version int64) (store.Token, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		stored, err := r.store.StoreRefreshed(ctx, tokenID, r.owner, version, fresh)
		if err == nil || !(store.IsUnavailable(err) || errors.Is(err, store.ErrConflict)) {
			return stored, err
		}
		r.opts.Logger.WarnContext(ctx, "storing a refreshed token failed; retrying", "token_id", tokenID, "error", err)
		select {
		case <-ctx.Done():
			return store.Token{}, fmt.Errorf("storing refreshed token %s: %w", tokenID, err)
		case <-time.After(wait):
		}
	}
}

// Outcomes of a provider exchange besides the reasons of an UnmetError: it
// succeeded, or failed for a reason the provider did not give.
const (
	outcomeOK    = "OK"
	outcomeError = "ERROR"
)

// audit records a provider exchange: refreshes change a token, so they are
// audited like any other change.
func (r *Refresher) audit(ctx context.Context, t store.Token, conn store.Connection, failure error) {
	e := store.AuditEvent{Method: "refresh", OrgID: t.OrgID, Outcome: outcomeOK,
		Detail: fmt.Sprintf("connection %s, token %s", conn.Name, t.ID)}
	var unmet *UnmetError
	if errors.As(failure, &unmet) {
		e.Outcome, e.Detail = unmet.Reason, e.Detail+": "+unmet.Message
	} else if failure != nil {
		e.Outcome = outcomeError
	}
	r.refreshes.WithLabelValues(strings.ToLower(e.Outcome)).Inc()
	if r.opts.Audit == nil {
		return
	}
	if err := r.opts.Audit(ctx, e); err != nil {
		r.opts.Logger.ErrorContext(ctx, "refresh audit event not recorded", "token_id", t.ID, "error", err)
	}
}

func expiry(t *oauth2.Token) *time.Time {
	if t.Expiry.IsZero() {
		return nil
	}
	e := t.Expiry.UTC()
	return &e
}

// exchange asks the provider for a new token: a refresh_token grant, or for a
// client-credentials connection a client_credentials grant, each with the
// connection's extra token parameters.
func (r *Refresher) exchange(ctx context.Context, t store.Token, conn store.Connection, entityID string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.opts.HTTPClient)
	params := url.Values{}
	for k, v := range conn.TokenParams {
		params.Set(k, v)
	}
	cfg := clientcredentials.Config{
		ClientID:       conn.ClientID,
		ClientSecret:   conn.ClientSecret,
		TokenURL:       FillEntity(conn.TokenURL, entityID),
		AuthStyle:      AuthStyle(conn),
		EndpointParams: params,
	}
	if conn.Flow == store.FlowClientCredentials {
		cfg.Scopes = conn.Scopes
		if conn.Audience != "" {
			params.Set("audience", conn.Audience)
		}
	} else {
		// x/oauth2's own refresh sends no extra parameters, while some providers
		// want theirs (resource=...) on every token request. clientcredentials
		// lets grant_type be overridden, and answers are parsed the same way.
		params.Set("grant_type", "refresh_token")
		params.Set("refresh_token", t.RefreshToken)
	}
	return cfg.Token(ctx)
}

// recordFailure sorts a failed exchange: a dead grant or client stops refreshes
// until a person acts; anything else backs off exponentially.
func (r *Refresher) recordFailure(ctx context.Context, t store.Token, conn store.Connection, exchangeErr error) error {
	reason, desc := describe(exchangeErr, t.RefreshToken, t.AccessToken, conn.ClientSecret)
	f := store.RefreshFailure{Status: store.TokenRefreshFailed, LastError: desc}
	unmet := &UnmetError{Reason: ReasonRefreshFailed, Message: "refresh failed: " + desc}
	if dead(reason) {
		f.Status = store.TokenNeedsReauth
		unmet = &UnmetError{Reason: ReasonNeedsReauth, Message: "the provider rejected the grant (" + desc + "); connect the account again"}
	} else {
		failures, err := r.store.Failures(ctx, t.ID)
		if err != nil {
			return err
		}
		retry := r.opts.Now().Add(r.backoff(failures))
		f.RetryAt = &retry
	}
	r.opts.Logger.WarnContext(ctx, "token refresh failed", "token_id", t.ID, "org_id", t.OrgID, "status", f.Status, "error", desc)
	if err := r.store.RecordRefreshFailure(ctx, t.ID, r.owner, t.Version, f); err != nil {
		return err
	}
	return unmet
}

// backoff is base·2^failures, capped, with up to 20% jitter so that tokens that
// failed together do not retry together.
func (r *Refresher) backoff(failures int) time.Duration {
	d := r.opts.BackoffBase
	for i := 0; i < failures && d < r.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, r.opts.BackoffMax)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

func dead(oauthError string) bool {
	switch oauthError {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	}
	return false
}

// describe returns the OAuth error code and a description without secrets: the
// provider's error code and description, or the HTTP status, or the error kind.
func describe(err error, secrets ...string) (code, description string) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		desc := fmt.Sprintf("provider answered HTTP %d", status)
		if re.ErrorCode != "" {
			desc += ": " + textclip.Clip(redact(re.ErrorCode, secrets), 100)
			if re.ErrorDescription != "" {
				desc += " (" + textclip.Clip(redact(re.ErrorDescription, secrets), 200) + ")"
			}
		}
		return re.ErrorCode, desc
	}
	// Before the url.Error that carries it: the provider took longer than
	// its share of the lease (providerTimeout).
	if errors.Is(err, context.DeadlineExceeded) {
		return "", "provider did not answer in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "", "provider unreachable: " + ue.Op + " failed: " + textclip.Clip(redact(errors.Unwrap(ue).Error(), secrets), 200)
	}
	return "", "token exchange failed"
}

// redact replaces each secret in text, whole, before it is clipped: a
// provider's error description may echo the refresh token or the client
// secret it was sent, and descriptions reach logs, status messages, events
// and webhooks.
func redact(text string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// AuthStyle is how x/oauth2 sends the connection's client credentials. Never
// auto-detection: it retries a rejected call the other way, which is two
// provider calls for one refresh and, with a rotating refresh token, a reuse.
func AuthStyle(conn store.Connection) oauth2.AuthStyle {
	if conn.TokenAuthMethod == store.AuthClientSecretPost {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// FillEntity puts the URL-escaped entity ID where a URL says {entity_id}.
func FillEntity(rawURL, entityID string) string {
	return strings.ReplaceAll(rawURL, "{entity_id}", url.PathEscape(entityID))
}
