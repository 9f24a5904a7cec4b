package server

import (
	"context"
	"log/slog"
)

// WithRequestIDs wraps a slog handler so that every record logged with the
// context of a call carries that call's request_id, whichever package logs it
// (a token refresh during a read, a store error).
func WithRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{root: h, derived: h} }

// requestIDHandler keeps request_id at the top level of a record even for a
// logger derived with WithGroup, where attributes added to the record would
// land inside the group: it then replays the derivation on a root that has the
// request_id.
type requestIDHandler struct {
	root    slog.Handler // the wrapped handler, before any derivation
	derived slog.Handler // root with the derivations applied
	// derivations made root into derived, in order.
	derivations []func(slog.Handler) slog.Handler
	grouped     bool // one of them opened a group
}

func (h requestIDHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.derived.Enabled(ctx, level)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	rec, ok := ctx.Value(callRecordKey{}).(*callRecord)
	if !ok {
		return h.derived.Handle(ctx, r)
	}
	id := slog.String("request_id", rec.requestID)
	if !h.grouped {
		r.AddAttrs(id)
		return h.derived.Handle(ctx, r)
	}
	withID := h.root.WithAttrs([]slog.Attr{id})
	for _, derive := range h.derivations {
		withID = derive(withID)
	}
	return withID.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.derive(func(d slog.Handler) slog.Handler { return d.WithAttrs(attrs) }, false)
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return h.derive(func(d slog.Handler) slog.Handler { return d.WithGroup(name) }, true)
}

func (h requestIDHandler) derive(step func(slog.Handler) slog.Handler, group bool) slog.Handler {
	return requestIDHandler{
		root:        h.root,
		derived:     step(h.derived),
		derivations: append(h.derivations[:len(h.derivations):len(h.derivations)], step),
		grouped:     h.grouped || group,
	}
}
