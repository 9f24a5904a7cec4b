package client

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// Event is one change in the service's event log. It never holds a secret.
type Event struct {
	ID       string
	Position int64
	Time     time.Time
	// Type is e.g. "token.needs_reauth", "token.recovered", "mapping.upserted".
	Type        string
	OrgID       string
	Integration string
	Connection  string
	// TokenStatus is a token's status after the change, for token events.
	TokenStatus ConnectionStatus
	Reason      string
}

// WatchOptions narrow a Watch. The zero value watches the organization of
// the client (WithOrg) or of the key, from now on.
type WatchOptions struct {
	// After resumes after this position (the last event handled); nil starts
	// from now, 0 from the oldest event retained.
	After *int64
	// Types keeps only these event types; empty for all.
	Types []string
	// Integration keeps only this integration's events and its connection's
	// token events.
	Integration string
	// OrgID keeps one organization's events (a key for all organizations
	// sees all without it).
	OrgID string
}

// Watch calls handle with each event of the log the key may see, in order,
// until ctx ends, handle returns an error, or the service refuses the watch
// (a bad filter, another organization, a position retention has deleted).
// When the stream breaks (a replica restarts, the network drops) it
// reconnects with backoff and resumes after the last event handled: no event
// is missed or handled twice. It returns handle's error, the refusal, or
// ctx's error.
func (c *Client) Watch(ctx context.Context, opts WatchOptions, handle func(Event) error) error {
	org := opts.OrgID
	if org == "" {
		org = c.defaultOrg
	}
	req := &integrationsv1.WatchEventsRequest{Types: opts.Types, IntegrationName: opts.Integration, OrgId: org, AfterPosition: opts.After}
	wait := watchBackoff{}
	for {
		progressed, err := c.watchOnce(ctx, req, handle)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errHandler):
			return errors.Unwrap(err)
		case !retryableWatchError(err):
			return err
		}
		if progressed {
			wait = watchBackoff{}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait.next()):
		}
	}
}

// errHandler wraps what handle returned, to tell it from the stream's errors.
var errHandler = errors.New("watch handler")

type handlerError struct{ err error }

func (e handlerError) Error() string        { return e.err.Error() }
func (e handlerError) Unwrap() error        { return e.err }
func (e handlerError) Is(target error) bool { return target == errHandler }

// watchOnce runs one stream, moving req's position on as messages arrive, so
// that the next stream resumes after them. It reports whether it got any.
func (c *Client) watchOnce(ctx context.Context, req *integrationsv1.WatchEventsRequest, handle func(Event) error) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.WatchEvents(ctx, req)
	if err != nil {
		return false, err
	}
	progressed := false
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return progressed, status.Error(codes.Unavailable, "the service ended the watch")
		}
		if err != nil {
			return progressed, err
		}
		progressed = true
		if e := resp.GetEvent(); e != nil {
			if err := handle(event(e)); err != nil {
				return progressed, handlerError{err}
			}
		}
		position := resp.GetPosition()
		req.AfterPosition = &position
	}
}

// retryableWatchError says whether a broken stream is worth opening again:
// the service or the way to it failed, not the request.
func retryableWatchError(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown, codes.DeadlineExceeded:
		return true
	}
	return false
}

// watchBackoff doubles from 100 ms to 5 s, with jitter.
type watchBackoff struct{ last time.Duration }

func (b *watchBackoff) next() time.Duration {
	b.last = min(max(2*b.last, 100*time.Millisecond), 5*time.Second)
	return b.last/2 + rand.N(b.last/2+1)
}

func event(e *integrationsv1.Event) Event {
	out := Event{
		ID: e.GetId(), Position: e.GetPosition(), Time: e.GetTime().AsTime(), Type: e.GetType(),
		OrgID: e.GetOrganizationId(), Integration: e.GetIntegrationName(), Connection: e.GetConnectionName(), Reason: e.GetReason(),
	}
	if e.GetTokenStatus() != integrationsv1.ConnectionStatus_CONNECTION_STATUS_UNSPECIFIED {
		out.TokenStatus = statuses[e.GetTokenStatus()]
	}
	return out
}
