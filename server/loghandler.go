package server

import (
	"context"
	"log/slog"

	"github.com/bifrost/integrations/internal/textsafe"
)

// WithRequestIDs wraps a slog handler so that every record logged with the
// context of a call carries that call's request_id, whichever package logs it
// (a token refresh during a read, a store error). It also makes every text
// logged safe to read (textsafe.Clean), as the audit log's texts are: a
// provider's error or a caller's input cannot break or reorder a log line.
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
	r = cleanRecord(r)
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
	attrs, _ = cleanAttrs(attrs)
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

// cleanRecord returns r with its message and texts made safe to read; r itself,
// without copying, when they are.
func cleanRecord(r slog.Record) slog.Record {
	dirty := !textsafe.Safe(r.Message)
	if !dirty {
		r.Attrs(func(a slog.Attr) bool {
			_, dirty = cleanAttr(a)
			return !dirty
		})
	}
	if !dirty {
		return r
	}
	out := slog.NewRecord(r.Time, r.Level, textsafe.Clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		clean, _ := cleanAttr(a)
		out.AddAttrs(clean)
		return true
	})
	return out
}

// cleanAttrs makes the texts of attrs safe to read: strings, errors, and those
// in groups. It reports whether any changed.
func cleanAttrs(attrs []slog.Attr) ([]slog.Attr, bool) {
	var out []slog.Attr
	for i, a := range attrs {
		clean, changed := cleanAttr(a)
		if changed && out == nil {
			out = append(make([]slog.Attr, 0, len(attrs)), attrs[:i]...)
		}
		if out != nil {
			out = append(out, clean)
		}
	}
	if out == nil {
		return attrs, false
	}
	return out, true
}

func cleanAttr(a slog.Attr) (slog.Attr, bool) {
	v := a.Value.Resolve()
	var text string
	switch v.Kind() {
	case slog.KindString:
		text = v.String()
	case slog.KindGroup:
		group, changed := cleanAttrs(v.Group())
		if !changed {
			return a, false
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(group...)}, true
	case slog.KindAny:
		err, ok := v.Any().(error)
		if !ok {
			return a, false
		}
		text = err.Error()
	default:
		return a, false
	}
	if textsafe.Safe(text) {
		return a, false
	}
	return slog.String(a.Key, textsafe.Clean(text)), true
}
