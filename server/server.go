// Package server implements IntegrationsService and AdminService over the store:
// request validation, authorization, and the mapping of errors to gRPC codes.
package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/datakeys"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Deps is what the services need.
type Deps struct {
	Store *store.Store
	// Refresher keeps the tokens GetIntegration hands out fresh.
	Refresher *oauth.Refresher
	// Audit records changes, secret reads and denied calls.
	Audit *audit.Recorder
	// Keys manages the data keys that seal the database's secrets.
	Keys *datakeys.Manager
	// Connect starts authorization-code connects.
	Connect *authcode.Flow
	// Metrics receives per-RPC counts, codes and latency histograms; nil for none.
	Metrics prometheus.Registerer
	// Tracing traces every call (W3C trace context in, spans out); nil for none.
	Tracing trace.TracerProvider
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// EventPollInterval is how often a server with streams waiting reads the
	// event log's head (for other replicas' events): 200 ms when zero.
	EventPollInterval time.Duration
	// CallTimeout bounds each unary call from the moment its headers arrive,
	// the wait for its request message included: 30 s when zero, and never
	// more. Tests shorten it.
	CallTimeout time.Duration
}

// Server holds both services.
type Server struct {
	store     *store.Store
	refresher *oauth.Refresher
	audit     *audit.Recorder
	keys      *datakeys.Manager
	connect   *authcode.Flow
	metrics   prometheus.Registerer
	tracing   trace.TracerProvider
	logger    *slog.Logger
	now       func() time.Time

	callTimeout time.Duration // Deps.CallTimeout, defaulted
	policies    policies
	events      *eventHub
	watches     watchCounts
}

// New returns a Server over d. It fails when a method of the services declares
// no policy (see proto/bifrost/integrations/policy/v1).
func New(d Deps) (*Server, error) {
	ps, err := loadPolicies(servedServices()...)
	if err != nil {
		return nil, err
	}
	s := &Server{store: d.Store, refresher: d.Refresher, audit: d.Audit, keys: d.Keys, connect: d.Connect, metrics: d.Metrics, tracing: d.Tracing, logger: d.Logger, now: d.Now, policies: ps}
	if s.now == nil {
		s.now = time.Now
	}
	if d.CallTimeout <= 0 || d.CallTimeout > maxCallTime {
		s.callTimeout = maxCallTime
	} else {
		s.callTimeout = d.CallTimeout
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	pollInterval := d.EventPollInterval
	if pollInterval <= 0 {
		pollInterval = 200 * time.Millisecond
	}
	s.events = newEventHub(d.Store.EventHead, pollInterval)
	if d.Metrics != nil && d.Keys != nil {
		// A second Server on the same registry (tests) shares the first's.
		_ = d.Metrics.Register(d.Keys.Collector())
	}
	return s, nil
}

// Register adds both services to r, each method behind its declared policy.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	r.RegisterService(s.policies.guarded(&integrationsv1.IntegrationsService_ServiceDesc), &integrationsService{s: s})
	r.RegisterService(s.policies.guarded(&adminv1.AdminService_ServiceDesc), &adminService{s: s})
}

// caller returns the authenticated principal; the auth interceptor guarantees
// one on every service method.
func caller(ctx context.Context) auth.Principal { return recordOf(ctx).caller }

// resolveOrg returns the organization a request is about: the one asked for,
// else the caller's own. Empty means the caller acts for every organization
// and asked for none. The audit records the organization resolved here, not
// the one the request named.
func resolveOrg(ctx context.Context, requested string) (string, error) {
	p := caller(ctx)
	org := requested
	if org == "" {
		org = p.OrgID
	}
	if !p.CanAccessOrg(org) {
		if org == "" {
			return "", permissionDenied("api key %q may not act without an organization", p.KeyID)
		}
		return "", permissionDenied("api key %q may not access organization %q", p.KeyID, org)
	}
	recordOf(ctx).org = org
	return org, nil
}

// listedOrg is the organization whose rows a listing shows: the caller's own
// for a key bound to one, "" (every organization) for a key acting for all.
func listedOrg(ctx context.Context) (string, error) {
	p := caller(ctx)
	if !p.Known() {
		return "", permissionDenied("no known caller")
	}
	if p.ActsForAllOrgs() {
		return "", nil
	}
	recordOf(ctx).org = p.OrgID
	return p.OrgID, nil
}
