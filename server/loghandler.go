package server

import (
	"context"
	"log/slog"
)

// WithRequestIDs wraps a slog handler so that every record logged with the
// context of a call carries that call's request_id, whichever package logs it
// (a token refresh during a read, a store error).
func WithRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if rec, ok := ctx.Value(callRecordKey{}).(*callRecord); ok {
		r.AddAttrs(slog.String("request_id", rec.requestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
