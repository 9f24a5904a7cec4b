package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A request that does not decode (bad wire format, invalid UTF-8 in a string,
// a Struct nested past protobuf's recursion limit) is the caller's error and
// gets INVALID_ARGUMENT. grpc-go cannot be told so through its codec: it
// wraps any Unmarshal error as INTERNAL ("grpc: failed to unmarshal the
// received message", rpc_util.go recv, a status error included) and writes
// that status at once (serverStream.RecvMsg), before any interceptor runs.
// So the server's codec (grpc.ForceServerCodecV2) lets the decode succeed
// with the request emptied, and notes it as undecodable; the first
// interceptor answers a noted request INVALID_ARGUMENT, counts and logs it.
// The request message itself carries nothing: what an interceptor, a handler
// or a log sees of it is an empty message.

// undecodableRequests are the requests the codec emptied, each with its
// decode error, from the decode to the first interceptor. Both run on the
// call's goroutine, one after the other, so pending needs no more ordering.
type undecodableRequests struct {
	pending atomic.Int64
	reasons sync.Map // request message (a pointer) -> decode error text
}

func (u *undecodableRequests) note(req any, reason string) {
	u.reasons.Store(req, reason)
	u.pending.Add(1)
}

// take returns why req could not be decoded, if it was noted, and forgets it.
func (u *undecodableRequests) take(req any) (string, bool) {
	if u.pending.Load() == 0 {
		return "", false
	}
	reason, ok := u.reasons.LoadAndDelete(req)
	if !ok {
		return "", false
	}
	u.pending.Add(-1)
	return reason.(string), true
}

// serverCodec is grpc-go's proto codec (under its name) with two changes: it
// notes the requests it cannot decode instead of failing them, and sends an
// encodedMessage as the bytes it carries (see sendEncoded).
type serverCodec struct {
	encoding.CodecV2
	undecodable *undecodableRequests
}

func newServerCodec() serverCodec {
	return serverCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name), undecodable: &undecodableRequests{}}
}

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*encodedMessage); ok {
		// Shared by every call of one read: grpc-go only reads what it sends.
		return mem.BufferSlice{mem.SliceBuffer(m.wire)}, nil
	}
	return c.CodecV2.Marshal(v)
}

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	c.undecodable.note(v, err.Error())
	return nil
}

// requestDecoding installs serverCodec and the interceptors that answer the
// requests it noted as undecodable, ahead of the chain (grpc.UnaryInterceptor and
// grpc.StreamInterceptor run before ChainUnaryInterceptor's), so such a
// request reaches no handler, authentication or audit. They are counted in
// bifrost_grpc_undecodable_requests_total and logged as a finished call.
func (s *Server) requestDecoding() []grpc.ServerOption {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bifrost_grpc_undecodable_requests_total",
		Help: "Requests answered INVALID_ARGUMENT because they did not decode (bad wire format, invalid UTF-8, nesting past the limit).",
	}, []string{"grpc_service", "grpc_method"})
	if s.metrics != nil {
		s.metrics.MustRegister(rejected)
	}
	reject := func(ctx context.Context, fullMethod, reason string) error {
		service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
		rejected.WithLabelValues(service, method).Inc()
		err := status.Errorf(codes.InvalidArgument, "the request does not decode: %s", reason)
		s.logCall(ctx, fullMethod, time.Now(), err)
		return err
	}
	codec := newServerCodec()
	takeUndecodable := codec.undecodable.take
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if reason, ok := takeUndecodable(req); ok {
				return nil, reject(ctx, info.FullMethod, reason)
			}
			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, &decodingStream{ServerStream: ss, method: info.FullMethod, undecodable: takeUndecodable, reject: reject})
		}),
	}
}

// decodingStream answers a streamed request message that did not decode.
type decodingStream struct {
	grpc.ServerStream
	method      string
	undecodable func(req any) (string, bool)
	reject      func(ctx context.Context, fullMethod, reason string) error
}

func (d *decodingStream) RecvMsg(m any) error {
	if err := d.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if reason, ok := d.undecodable(m); ok {
		return d.reject(d.Context(), d.method, reason)
	}
	return nil
}
