package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/auth"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// NewGRPCServer builds the gRPC server with both services, health and reflection,
// behind the interceptor chain:
//
//	encoded answers → metrics → recovery → deadline → request ID → logging
//	→ audit → authentication and authorization → error mapping → handler
//
// and streams through metrics → recovery → logging → authentication → error
// mapping → handler.
//
// Health and reflection skip authentication so load balancers and grpcurl work
// without a key.
func (s *Server) NewGRPCServer(healthServer *health.Server, opts ...grpc.ServerOption) *grpc.Server {
	recoverToInternal := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		s.logger.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	needsKey := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return !keyless(c.Service)
	})
	// Metrics see every call, with the code it ended with; a registry of nil
	// counts into one nobody reads.
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if s.metrics != nil {
		s.metrics.MustRegister(metrics)
	}
	opts = append(opts, s.connectionLimits()...)
	opts = append(opts, s.requestDecoding()...)
	opts = append(opts,
		grpc.MaxRecvMsgSize(maxRequestBytes),
		// A fresh goroutine per call starts with a small stack and grows it
		// through the interceptors, the store and cgo every time; reused
		// workers keep theirs until the garbage collector shrinks an idle one
		// (grpc-go falls back to a new goroutine when all are busy).
		grpc.NumStreamWorkers(128),
		grpc.ChainUnaryInterceptor(
			sendEncoded,
			metrics.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(recoverToInternal),
			boundDeadline,
			requestID,
			s.scopeGeneration,
			s.logCalls,
			s.auditCalls,
			s.authenticateCalls,
			s.mapErrors,
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(recoverToInternal),
			s.logStreams,
			selector.StreamServerInterceptor(grpcauth.StreamServerInterceptor(s.authenticate), needsKey),
			s.mapStreamErrors,
		),
	)
	if s.tracing != nil {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(s.tracing), otelgrpc.WithPropagators(propagation.TraceContext{}))))
	}
	gs := grpc.NewServer(opts...)
	s.Register(gs)
	healthpb.RegisterHealthServer(gs, healthServer)
	reflection.Register(gs)
	metrics.InitializeMetrics(gs)
	for _, svc := range []string{integrationsv1.IntegrationsService_ServiceDesc.ServiceName, adminv1.AdminService_ServiceDesc.ServiceName} {
		healthServer.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	return gs
}

// Limits on every call.
const (
	// maxRequestBytes is far above any valid request (configs are capped at 64 KiB).
	maxRequestBytes = 1 << 20
	// maxCallTime bounds a call whose caller set no deadline, or a longer one, so
	// no call holds a database connection or a lease waiter forever.
	maxCallTime = 30 * time.Second
)

// MaxCallTime is the longest a unary call may take, whatever deadline its
// caller set: a read that waits on another replica's token refresh must be
// answered within it (oauth.LongestWait).
const MaxCallTime = maxCallTime

func boundDeadline(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > maxCallTime {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, maxCallTime)
		defer cancel()
	}
	return handler(ctx, req)
}

// scopeGeneration lets a call check every cache it reads against one reading
// of the store's generation (see store.Store.WithGenerationScope).
func (s *Server) scopeGeneration(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(s.store.WithGenerationScope(ctx), req)
}

// keyless says whether service answers without an API key: health and
// reflection, so that load balancers and grpcurl work without one.
func keyless(service string) bool {
	return service == healthpb.Health_ServiceDesc.ServiceName || strings.HasPrefix(service, "grpc.reflection.")
}

// keylessMethod is keyless for a full method name ("/package.Service/Method").
func keylessMethod(fullMethod string) bool {
	service, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return keyless(service)
}

// authenticateCalls authenticates every unary call but a keyless one. The
// unary interceptors that skip keyless calls check for themselves rather than
// sit behind go-grpc-middleware's selector: a selector and the auth
// interceptor add three frames each call runs through, on a stack that
// GetIntegration's interceptors and handler already take deep (see auditCalls).
func (s *Server) authenticateCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if keylessMethod(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// authenticate resolves the bearer key to the caller. What the caller may do
// is each method's declared policy (see Server.Register), checked innermost.
func (s *Server) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	secret, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, auth.Refused("expected authorization: Bearer <api key>"))
	}
	p, err := auth.Authenticate(ctx, s.store, secret, s.now())
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	rec, ok := ctx.Value(callRecordKey{}).(*callRecord)
	if !ok { // a stream: no unary interceptor made the record
		rec = &callRecord{requestID: requestIDFor("")}
		ctx = context.WithValue(ctx, callRecordKey{}, rec)
	}
	rec.caller = p
	return ctx, nil
}

// mapStreamErrors is mapErrors for streaming calls.
func (s *Server) mapStreamErrors(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return toStatus(ss.Context(), s.logger, info.FullMethod, handler(srv, ss))
}

// mapErrors turns every handler error into a gRPC status in one place.
func (s *Server) mapErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, s.logger, info.FullMethod, err)
	}
	return resp, nil
}
