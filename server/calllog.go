package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// logCall logs a finished call: service, method, code, duration, the peer's
// address, the caller's key ID and role when it was authenticated and, when it
// failed, the message its caller got (errors are mapped before they reach
// here, and mapped messages carry no secrets). Never the payload: requests and
// responses carry secrets. The line is built only when its level is enabled,
// so successful calls, logged at debug, cost nothing at the default level.
func (s *Server) logCall(ctx context.Context, fullMethod string, start time.Time, err error) {
	code := status.Code(err)
	level := callLogLevel(code)
	if !s.logger.Enabled(ctx, level) {
		return
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	attrs := []slog.Attr{
		slog.String("grpc.service", service),
		slog.String("grpc.method", method),
		slog.String("grpc.code", code.String()),
		slog.Float64("grpc.time_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	if caller := recordOf(ctx).caller; caller.KeyID != "" {
		attrs = append(attrs, slog.String("api_key_id", caller.KeyID), slog.String("role", string(caller.Role)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", status.Convert(err).Message()))
	}
	s.logger.LogAttrs(ctx, level, "finished call", attrs...)
}

// callLogLevel is debug for success (at thousands of reads a second an info
// line each would cost more than the read), error for what an operator must
// look at, info for the caller's mistakes.
func callLogLevel(c codes.Code) slog.Level {
	switch c {
	case codes.OK:
		return slog.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStreams(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}
