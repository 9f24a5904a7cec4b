package client

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// reuseMargin is how long before its expiry a token is no longer reused and the
// service is asked again. The service itself refreshes tokens before that (its
// refresh margin, 5 minutes by default), so the answer is a fresh token.
const reuseMargin = time.Minute

// TokenSource returns an oauth2.TokenSource for the integration's access token,
// backed by the service: workflow code gets a valid token per request without
// refresh logic of its own. ctx bounds every call to the service.
func (c *Client) TokenSource(ctx context.Context, name string, opts ...CallOption) oauth2.TokenSource {
	return &reusingTokenSource{next: &serviceTokenSource{ctx: ctx, client: c, name: name, opts: opts}}
}

// reusingTokenSource hands out the token it holds until reuseMargin before its
// expiry, or, for a token that came with less than twice that left, until half
// of what was left has passed. The service refreshes a short-lived token only
// at half its life: asking it a minute before the expiry of a 90-second token
// would bring back the same token, request after request
// (oauth2.ReuseTokenSource's margin is one for all tokens).
type reusingTokenSource struct {
	next oauth2.TokenSource
	mu   sync.Mutex
	tok  *oauth2.Token
	due  time.Time // when to ask again; zero for a token without expiry
}

func (s *reusingTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && (s.due.IsZero() || time.Now().Before(s.due)) {
		return s.tok, nil
	}
	t, err := s.next.Token()
	if err != nil {
		return nil, err
	}
	s.tok, s.due = t, time.Time{}
	if !t.Expiry.IsZero() {
		s.due = t.Expiry.Add(-min(reuseMargin, time.Until(t.Expiry)/2))
	}
	return t, nil
}

// HTTPClient returns an *http.Client that sends the integration's access token
// on every request.
func (c *Client) HTTPClient(ctx context.Context, name string, opts ...CallOption) *http.Client {
	return oauth2.NewClient(ctx, c.TokenSource(ctx, name, opts...))
}

type serviceTokenSource struct {
	ctx    context.Context
	client *Client
	name   string
	opts   []CallOption
}

func (s *serviceTokenSource) Token() (*oauth2.Token, error) {
	d, err := s.client.Get(s.ctx, s.name, s.opts...)
	switch {
	case err != nil:
		return nil, err
	case d == nil:
		return nil, fmt.Errorf("integration %q does not exist", s.name)
	case d.OAuth == nil:
		return nil, fmt.Errorf("integration %q has no OAuth connection", s.name)
	case d.OAuth.AccessToken == "":
		return nil, fmt.Errorf("integration %q has no token (%s): %s", s.name, d.OAuth.Status, d.OAuth.StatusMessage)
	}
	t := &oauth2.Token{AccessToken: d.OAuth.AccessToken, TokenType: "Bearer"}
	if d.OAuth.ExpiresAt != nil {
		t.Expiry = *d.OAuth.ExpiresAt
	}
	return t, nil
}
