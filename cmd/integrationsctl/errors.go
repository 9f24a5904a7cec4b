package main

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// friendly words a failed call for a person: the server's message alone ("unknown
// api key"), which already says what went wrong, without the code in front;
// and, for a call that never reached an integrationsd, what the address
// answered instead and where the gRPC port is. The error keeps its status, so
// status.Code still tells the code.
func (a *app) friendly(err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	msg := st.Message()
	if st.Code() == codes.Unavailable || st.Code() == codes.Unknown || st.Code() == codes.Unimplemented || st.Code() == codes.Internal {
		if hint := a.transportHint(msg); hint != "" {
			msg = hint
		}
	}
	if msg == "" {
		msg = st.Code().String()
	}
	return &friendlyError{msg: msg, st: st}
}

// grpcPortHint is where integrationsctl should point instead of an HTTP port.
const grpcPortHint = "point --addr (BIFROST_ADDR) at integrationsd's gRPC port (its --listen, 127.0.0.1:50051 by default), not at its HTTP port (--http-listen, 127.0.0.1:8080 by default)"

// transportHint explains the transport errors a wrong address gives, from the
// text grpc-go puts in them; "" when msg is none of them.
func (a *app) transportHint(msg string) string {
	switch {
	case strings.Contains(msg, "looked like an HTTP/1.1 header"):
		// A plaintext HTTP/1.1 server answered the HTTP/2 preface.
		return fmt.Sprintf("%s answers HTTP/1.1, not gRPC: %s", a.addr, grpcPortHint)
	case strings.Contains(msg, "unexpected HTTP status code") || strings.Contains(msg, "unexpected content-type"):
		// An HTTP/2 server (an HTTP port behind TLS) that is not gRPC.
		return fmt.Sprintf("%s answers HTTP, not gRPC: %s", a.addr, grpcPortHint)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Sprintf("%s does not speak TLS: drop --ca-file and --cert, or use --insecure", a.addr)
	case strings.Contains(msg, "connection refused"):
		return fmt.Sprintf("nothing listens at %s (connection refused): is integrationsd running, and is BIFROST_ADDR (--addr) its gRPC address?", a.addr)
	}
	return ""
}

// friendlyError reads as the server's message and keeps its status.
type friendlyError struct {
	msg string
	st  *status.Status
}

func (e *friendlyError) Error() string { return e.msg }

func (e *friendlyError) GRPCStatus() *status.Status { return e.st }
