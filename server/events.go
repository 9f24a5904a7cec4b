package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/auth"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

const (
	// eventPageSize is how many events a stream reads from the log at once.
	eventPageSize = 200
	// eventHeartbeat is how often a quiet stream gets a message that moves its
	// position on, which also keeps proxies from closing it as idle.
	eventHeartbeat = 15 * time.Second
	// ReasonEventsPruned is the ErrorInfo reason of a resume from a position
	// whose following events retention has deleted.
	ReasonEventsPruned = "EVENTS_PRUNED"
)

func (h *integrationsService) WatchEvents(req *integrationsv1.WatchEventsRequest, stream grpc.ServerStreamingServer[integrationsv1.WatchEventsResponse]) error {
	ctx := stream.Context()
	filter, err := h.eventFilter(ctx, req)
	if err != nil {
		return err
	}
	release, err := h.s.watches.acquire(caller(ctx).KeyID)
	if err != nil {
		return err
	}
	defer release()
	// The key is checked again each time the stream wakes (the interceptor
	// checked it for the first read): a key revoked or expired while its
	// stream is open gets nothing more.
	secret, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return auth.Refused("expected authorization: Bearer <api key>")
	}
	stillValid := func() error {
		_, err := auth.Authenticate(ctx, h.s.store, secret, h.s.now())
		return err
	}
	head, err := h.s.store.EventHead(ctx)
	if err != nil {
		return err
	}
	cursor := head
	if req.AfterPosition != nil {
		cursor = req.GetAfterPosition()
		if cursor > head {
			return invalidArgument("after_position", fmt.Sprintf("is past the event log's last position %d", head))
		}
	}
	if err := stream.Send(&integrationsv1.WatchEventsResponse{Position: cursor, HeadPosition: head}); err != nil {
		return err
	}
	heartbeat := time.Now().Add(eventHeartbeat)
	fromOldest := req.AfterPosition != nil && cursor == 0
	for {
		page, err := h.s.store.Events(ctx, cursor, filter, eventPageSize)
		if err != nil {
			return err
		}
		if page.Pruned > cursor && fromOldest {
			// 0 asks for every event retained: from the oldest on.
			cursor = page.Pruned
			continue
		}
		if page.Pruned > cursor {
			return failedPrecondition(ReasonEventsPruned, "events after position %d were deleted by retention (up to position %d); start again from a later position", cursor, page.Pruned)
		}
		fromOldest = false
		for _, e := range page.Events {
			if err := stream.Send(&integrationsv1.WatchEventsResponse{Position: e.Position, Event: eventProto(e)}); err != nil {
				return err
			}
			cursor = e.Position
		}
		if len(page.Events) == eventPageSize {
			continue
		}
		// Every event up to the head matching the filter was in the page.
		cursor = max(cursor, page.Head)
		if wait := time.Until(heartbeat); wait > 0 {
			h.s.events.waitPast(ctx, cursor, wait)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := stillValid(); err != nil {
			return err
		}
		if !time.Now().Before(heartbeat) {
			if err := stream.Send(&integrationsv1.WatchEventsResponse{Position: cursor}); err != nil {
				return err
			}
			heartbeat = time.Now().Add(eventHeartbeat)
		}
	}
}

// maxWatchesPerKey bounds the WatchEvents streams one API key holds open at
// once: each reads the log whenever it moves, so a key with thousands would
// slow every organization's reads.
const maxWatchesPerKey = 16

// watchCounts counts each key's open WatchEvents streams.
type watchCounts struct {
	mu    sync.Mutex
	byKey map[string]int
}

func (w *watchCounts) acquire(keyID string) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byKey[keyID] >= maxWatchesPerKey {
		return nil, resourceExhausted("api key %q has %d event streams open, the most it may; close one first", keyID, maxWatchesPerKey)
	}
	if w.byKey == nil {
		w.byKey = map[string]int{}
	}
	w.byKey[keyID]++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.byKey[keyID]--; w.byKey[keyID] == 0 {
			delete(w.byKey, keyID)
		}
	}, nil
}

// eventFilter is what req may see of the log. A key bound to one organization
// sees that organization's events and the platform's, except key events; a
// key for every organization sees all, or one organization's when it names
// one.
func (h *integrationsService) eventFilter(ctx context.Context, req *integrationsv1.WatchEventsRequest) (store.EventFilter, error) {
	var v violations
	v.optionalName("integration_name", req.GetIntegrationName())
	v.optionalName("org_id", req.GetOrgId())
	if req.AfterPosition != nil && req.GetAfterPosition() < 0 {
		v.add("after_position", "must not be negative")
	}
	f := store.EventFilter{Integration: req.GetIntegrationName(), Types: v.eventTypes("types", req.GetTypes())}
	if err := v.err(); err != nil {
		return store.EventFilter{}, err
	}
	org, err := resolveOrg(ctx, req.GetOrgId())
	if err != nil {
		return store.EventFilter{}, err
	}
	p := caller(ctx)
	switch {
	case org == "":
		f.AnyOrg = true
	case p.ActsForAllOrgs() && req.GetOrgId() != "":
		f.OrgID = org
	default:
		f.OrgID, f.PlatformToo = org, true
	}
	f.WithoutKeys = !p.IsAdmin()
	if f.Integration != "" {
		in, err := h.s.store.GetIntegration(ctx, f.Integration)
		if err != nil {
			return store.EventFilter{}, err
		}
		f.Connection = in.ConnectionName
	}
	return f, nil
}

func eventProto(e store.Event) *integrationsv1.Event {
	return &integrationsv1.Event{
		Id:              e.ID,
		Position:        e.Position,
		Time:            timestamppb.New(e.Time),
		Type:            string(e.Type),
		OrganizationId:  e.OrgID,
		IntegrationName: e.Integration,
		ConnectionName:  e.Connection,
		TokenStatus:     eventTokenStatus(e.Status),
		Reason:          e.Reason,
	}
}

func eventTokenStatus(status string) integrationsv1.ConnectionStatus {
	switch status {
	case "":
		return integrationsv1.ConnectionStatus_CONNECTION_STATUS_UNSPECIFIED
	case store.TokenDisconnected:
		return integrationsv1.ConnectionStatus_CONNECTION_STATUS_NOT_CONNECTED
	}
	return connectionStatuses[store.TokenStatus(status)]
}

// eventHub tells the streams of one server when the event log moves on: one
// poll of the log's head serves them all, on any replica's writes, while at
// least one stream waits.
type eventHub struct {
	head     func(context.Context) (int64, error)
	interval time.Duration

	mu      sync.Mutex
	known   int64
	moved   chan struct{} // closed when known moves on
	waiters int
	polling bool
}

func newEventHub(head func(context.Context) (int64, error), interval time.Duration) *eventHub {
	return &eventHub{head: head, interval: interval, moved: make(chan struct{})}
}

// waitPast returns once the log may have moved past position, ctx ends or
// limit has passed. It can return early: callers read the log again.
func (h *eventHub) waitPast(ctx context.Context, position int64, limit time.Duration) {
	h.mu.Lock()
	if h.known > position {
		h.mu.Unlock()
		return
	}
	moved := h.moved
	h.waiters++
	if !h.polling {
		h.polling = true
		go h.poll()
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.waiters--
		h.mu.Unlock()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-moved:
	case <-ctx.Done():
	case <-timer.C:
	}
}

// poll reads the head every interval until no stream waits.
func (h *eventHub) poll() {
	ticker := time.NewTicker(h.interval)
	defer ticker.Stop()
	for range ticker.C {
		h.mu.Lock()
		if h.waiters == 0 {
			h.polling = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), h.interval*10)
		head, err := h.head(ctx)
		cancel()
		if err != nil {
			continue // the streams read the log themselves and report its errors
		}
		h.mu.Lock()
		if head > h.known {
			h.known = head
			close(h.moved)
			h.moved = make(chan struct{})
		}
		h.mu.Unlock()
	}
}
