package server

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/internal/textclip"
	"github.com/bifrost/integrations/store"
)

// callRecord is what the audit and logging interceptors learn about a call
// from the layers inside them: who called (authentication), and what the
// handler resolved and handed out. requestID puts one, with the call's ID, in
// every call's context.
type callRecord struct {
	requestID   string
	caller      auth.Principal // zero until authenticated
	integration string
	org         string
	secrets     bool
}

type callRecordKey struct{}

func recordOf(ctx context.Context) *callRecord {
	if r, ok := ctx.Value(callRecordKey{}).(*callRecord); ok {
		return r
	}
	return &callRecord{} // outside the interceptor chain (tests of handlers alone)
}

// notedSecrets marks the call as one that returned secrets, for org.
func notedSecrets(ctx context.Context, integration, org string) {
	r := recordOf(ctx)
	r.secrets, r.integration, r.org = true, integration, org
}

// requestIDPattern bounds a caller-chosen request ID so it is safe in logs.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID gives every call an ID, the caller's x-request-id when it is sane,
// returned in the response header and carried by its log lines and audit event.
func requestID(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	given := ""
	if v := metadata.ValueFromIncomingContext(ctx, "x-request-id"); len(v) > 0 {
		given = v[0]
	}
	id := requestIDFor(given)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", id))
	return handler(context.WithValue(ctx, callRecordKey{}, &callRecord{requestID: id}), req)
}

// requestIDFor is the caller's request ID when it is sane, else a new one.
func requestIDFor(given string) string {
	if requestIDPattern.MatchString(given) {
		return given
	}
	return uuid.NewString()
}

// HTTPRequestIDs gives every HTTP request (the OAuth callback) a request ID as
// calls get one: the caller's X-Request-Id when sane, returned in the response
// header and carried by the request's log lines and audit event.
func HTTPRequestIDs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestIDFor(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callRecordKey{}, &callRecord{requestID: id})))
	})
}

// AuditWithRequestIDs wraps an audit recorder for the layers beside and under
// the server (the token refresher, the OAuth callback): an event recorded during
// a call or request, such as the refresh a read set off, carries its request
// ID, as its log lines do (WithRequestIDs).
func AuditWithRequestIDs(record func(context.Context, store.AuditEvent) error) func(context.Context, store.AuditEvent) error {
	return func(ctx context.Context, e store.AuditEvent) error {
		if rec, ok := ctx.Value(callRecordKey{}).(*callRecord); ok && e.RequestID == "" {
			e.RequestID = rec.requestID
		}
		return record(ctx, e)
	}
}

// auditCalls records every change, every call that returned a secret and every
// denied call, after it ran and before its answer leaves: when the audit log
// cannot take the event, the caller gets an error instead of the secret.
// Keyless calls (health, reflection) are not audited.
//
// The handler runs below this frame, so the event is built in recordCall, not
// here: every frame on the way to the handler is one a call's goroutine grows
// its stack through (the garbage collector shrinks an idle worker's stack, so
// a worker grows it again after each collection, copying every frame).
func (s *Server) auditCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if keylessMethod(info.FullMethod) {
		return handler(ctx, req)
	}
	rec := recordOf(ctx)
	// What the caller asked for, before any validation: a denied or invalid
	// call is recorded too, so its size is bounded here.
	if named, ok := req.(interface{ GetName() string }); ok && strings.HasPrefix(info.FullMethod, "/bifrost.integrations.v1.") {
		rec.integration = textclip.Clip(named.GetName(), maxIDLen)
	}
	requested := ""
	if org, ok := req.(interface{ GetOrgId() string }); ok {
		requested = textclip.Clip(org.GetOrgId(), maxIDLen)
	}
	resp, err := handler(ctx, req)
	if auditErr := s.recordCall(ctx, rec, info.FullMethod, requested, err); auditErr != nil {
		return nil, auditErr
	}
	return resp, err
}

// recordCall records the event of a call that ended with err, if it is one to
// record; an error when the audit log cannot take it.
func (s *Server) recordCall(ctx context.Context, rec *callRecord, method, requested string, err error) error {
	code := status.Code(err)
	policy, declared := s.policies[method] // undeclared: audited as a write
	denied := code == codes.Unauthenticated || code == codes.PermissionDenied
	if rec.secrets && !policy.returnsSecrets {
		// The declaration is wrong, not the caller: the answer goes out
		// audited, and the log says which method to declare.
		s.logger.ErrorContext(ctx, "method returned secrets without declaring returns_secrets", "method", method)
	}
	if declared && !policy.writes && !denied && !(rec.secrets && err == nil) {
		return nil
	}
	org, detail := auditedOrg(rec, requested, err == nil)
	if rec.secrets && err == nil {
		detail = "returned secrets"
	}
	if auditErr := s.audit.Record(ctx, store.AuditEvent{
		APIKeyID: rec.caller.KeyID, Role: string(rec.caller.Role), Method: method, Integration: rec.integration,
		OrgID: org, Outcome: code.String(), RequestID: rec.requestID, Detail: detail,
	}); auditErr != nil {
		s.logger.ErrorContext(ctx, "audit event not recorded; withholding the answer", "method", method, "error", auditErr)
		return status.Error(codes.Unavailable, "audit log unavailable, retry")
	}
	return nil
}

// auditedOrg is the organization an event is recorded under: the one the call
// resolved to; else, for a call that succeeded without resolving one (admin
// calls take the organization as given), the one it named. A call refused
// before it resolved one is recorded under the caller's own organization,
// with the one it asked for in the detail: nobody can fill another
// organization's audit log with calls it was denied.
func auditedOrg(rec *callRecord, requested string, succeeded bool) (org, detail string) {
	switch {
	case rec.org != "":
		return rec.org, ""
	case succeeded:
		return requested, ""
	case requested != "" && requested != rec.caller.OrgID:
		return rec.caller.OrgID, "asked for organization " + strconv.Quote(requested)
	}
	return rec.caller.OrgID, ""
}
