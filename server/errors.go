package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/config"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/store"
)

// errorDomain is the ErrorInfo domain of every error this service returns.
const errorDomain = "integrations.bifrost"

// apiError is an error meant for the caller: a code, a message free of secrets,
// and the details a client can act on.
type apiError struct {
	code       codes.Code
	msg        string
	reason     string
	metadata   map[string]string
	violations []*errdetails.BadRequest_FieldViolation
}

func (e *apiError) Error() string { return e.msg }

// GRPCStatus lets grpc-go and status.FromError see the code and details.
func (e *apiError) GRPCStatus() *status.Status {
	st := status.New(e.code, e.msg)
	var details []protoadapt.MessageV1
	if e.reason != "" {
		details = append(details, &errdetails.ErrorInfo{Reason: e.reason, Domain: errorDomain, Metadata: e.metadata})
	}
	if len(e.violations) > 0 {
		details = append(details, &errdetails.BadRequest{FieldViolations: e.violations})
	}
	if len(details) == 0 {
		return st
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

func permissionDenied(format string, args ...any) error {
	return &apiError{code: codes.PermissionDenied, msg: fmt.Sprintf(format, args...), reason: "PERMISSION_DENIED"}
}

func failedPrecondition(reason, format string, args ...any) error {
	return &apiError{code: codes.FailedPrecondition, msg: fmt.Sprintf(format, args...), reason: reason}
}

// resourceExhausted refuses a call over a limit of the caller's.
func resourceExhausted(format string, args ...any) error {
	return &apiError{code: codes.ResourceExhausted, msg: fmt.Sprintf(format, args...), reason: "RESOURCE_EXHAUSTED"}
}

// invalidArgument reports one bad field.
func invalidArgument(field, description string) error {
	return violations{{Field: field, Description: description}}.err()
}

// violations collects the problems of a request so the caller sees them at
// once: the first maxViolations of them, so that a request made of many bad
// values cannot make an answer (and the work of building it) many times its
// own size.
type violations []*errdetails.BadRequest_FieldViolation

const maxViolations = 20

func (v *violations) add(field, description string) {
	if len(*v) < maxViolations {
		*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: description})
	}
}

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, fv := range v {
		parts[i] = fv.Field + ": " + fv.Description
	}
	return &apiError{code: codes.InvalidArgument, msg: "invalid request: " + strings.Join(parts, "; "), reason: "INVALID_ARGUMENT", violations: v}
}

// inField names the request field a config error came in, so a bad config key is
// reported as e.g. "config.tenant_id".
func inField(prefix string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return invalidArgument(prefix+"."+fe.Key, fe.Reason)
	}
	return err
}

// toStatus is the one place errors become gRPC statuses. Errors made for the
// caller keep their code; the store's sentinel errors get theirs; anything else
// is logged and answered INTERNAL without detail, because its text may describe
// internals.
func toStatus(ctx context.Context, logger *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if api := classify(err); api != nil {
		// Contention the store could not absorb is the operator's to see.
		if api.code == codes.Unavailable || errors.Is(err, store.ErrConflict) {
			logger.WarnContext(ctx, strings.ToLower(api.code.String()), "method", method, "error", err)
		}
		return api.GRPCStatus().Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	logger.ErrorContext(ctx, "internal error", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
}

func classify(err error) *apiError {
	var api *apiError
	var fe *config.FieldError
	var unmet *oauth.UnmetError
	var refused *authcode.RequestError
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &unmet):
		return &apiError{code: codes.FailedPrecondition, msg: unmet.Message, reason: unmet.Reason}
	case errors.As(err, &fe):
		return inField("config", fe).(*apiError)
	case errors.As(err, &refused):
		return invalidArgument(refused.Field, refused.Reason).(*apiError)
	case errors.Is(err, auth.ErrUnauthenticated):
		return &apiError{code: codes.Unauthenticated, msg: err.Error(), reason: "UNAUTHENTICATED"}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{code: codes.NotFound, msg: err.Error(), reason: "NOT_FOUND"}
	case errors.Is(err, store.ErrAlreadyExists):
		return &apiError{code: codes.AlreadyExists, msg: err.Error(), reason: "ALREADY_EXISTS"}
	case errors.Is(err, store.ErrEntityOfAnother):
		return &apiError{code: codes.Aborted, msg: err.Error() + "; the organization's binding changed during the call, retry", reason: "ENTITY_OF_ANOTHER"}
	case errors.Is(err, store.ErrInUse):
		return &apiError{code: codes.FailedPrecondition, msg: err.Error(), reason: "IN_USE"}
	case errors.Is(err, store.ErrForbidden):
		return &apiError{code: codes.PermissionDenied, msg: err.Error(), reason: "PERMISSION_DENIED"}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{code: codes.InvalidArgument, msg: err.Error(), reason: "INVALID_ARGUMENT"}
	case errors.Is(err, store.ErrConflict):
		return &apiError{code: codes.Aborted, msg: "the change collided with concurrent changes; retry", reason: "CONCURRENT_CHANGES"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{code: codes.DeadlineExceeded, msg: "deadline exceeded"}
	case errors.Is(err, context.Canceled):
		return &apiError{code: codes.Canceled, msg: "canceled"}
	case errors.Is(err, oauth.ErrDraining):
		return &apiError{code: codes.Unavailable, msg: "this replica is shutting down, retry", reason: "SHUTTING_DOWN"}
	case store.IsUnavailable(err):
		return &apiError{code: codes.Unavailable, msg: "database unavailable, retry", reason: "DATABASE_UNAVAILABLE"}
	}
	return nil
}
