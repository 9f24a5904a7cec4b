package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/tap"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// Limits on what one connection may hold. The number of connections is the
// listener's to bound (integrationsd's --max-connections).
const (
	// maxConcurrentStreams bounds the calls one connection may have open at
	// once (the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the server announces;
	// grpc-go refuses the streams beyond it). Clients queue calls beyond it
	// rather than fail them.
	maxConcurrentStreams = 100
	// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshake.
	handshakeTimeout = 10 * time.Second
	// maxHeaderListBytes bounds a request's metadata (HTTP/2's
	// SETTINGS_MAX_HEADER_LIST_SIZE: names, values and 32 bytes a field),
	// far below maxRequestBytes: an API key, a trace context and a request
	// ID need well under 1 KiB. grpc-go resets a stream whose headers exceed
	// it, or closes the connection when they exceed it by far, before any
	// interceptor (authentication, which hashes the key) sees them.
	maxHeaderListBytes = 16 << 10
)

// keepalive enforcement, as grpc-go's keepalive package documents it: a
// client may ping at most every 10 s (more often, and the server ends the
// connection with GOAWAY ENHANCE_YOUR_CALM), also with no call open; the
// server pings a connection silent for a minute and closes it when the ping
// is not answered within 20 s (a peer that vanished), and closes a connection
// that had no call open for 5 minutes (clients reconnect when they next call).
var (
	keepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}
	keepaliveServer      = keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}
)

// connectionLimits are the server options that bound what a client can hold
// open without sending anything: streams per connection, the time a call
// (its request message included) may take, the handshake, idle connections.
func (s *Server) connectionLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.InTapHandle(s.callDeadline),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepaliveEnforcement),
		grpc.KeepaliveParams(keepaliveServer),
	}
}

// callDeadline puts the call's deadline (the caller's, or s.callTimeout if
// that is sooner) on the stream's context as soon as its headers arrive.
// grpc-go reads the request message under that context, so a call whose
// message never comes ends with DEADLINE_EXCEEDED instead of holding its
// stream and goroutine forever; the interceptors, which only run once the
// message is in, cannot do that (boundDeadline bounds the handler alone).
//
// Streaming methods (health Watch, reflection) are left alone: a Watch is
// meant to stay open, so they are bounded only by maxConcurrentStreams and
// the connection limit.
func (s *Server) callDeadline(ctx context.Context, info *tap.Info) (context.Context, error) {
	if streamingMethods[info.FullMethodName] {
		return ctx, nil
	}
	// grpc-go cancels the stream's context when the stream ends, which
	// cancels this one and stops its timer.
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	_ = cancel
	return ctx, nil
}

// streamingMethods are the full names of the served methods that stream.
var streamingMethods = func() map[string]bool {
	m := map[string]bool{}
	for _, sd := range []*grpc.ServiceDesc{
		&integrationsv1.IntegrationsService_ServiceDesc, &adminv1.AdminService_ServiceDesc,
		&healthpb.Health_ServiceDesc, &reflectionv1.ServerReflection_ServiceDesc, &reflectionv1alpha.ServerReflection_ServiceDesc,
	} {
		for _, st := range sd.Streams {
			m["/"+sd.ServiceName+"/"+st.StreamName] = true
		}
	}
	return m
}()
