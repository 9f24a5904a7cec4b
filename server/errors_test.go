package server

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/store"
)

// toStatus is the one place errors become statuses: what the caller may act on
// keeps its code and reason, a database that is down for now is UNAVAILABLE
// (retryable), and anything unforeseen is INTERNAL with no detail, its text
// logged for the operator only.
func TestToStatusMapsEveryKindOfError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		err      error
		code     codes.Code
		reason   string
		msgHas   string // the caller's message contains this
		msgLacks string // and not this
		logLevel string // the level of the line logged; empty: nothing logged
		logHas   string // what of the error the line carries
	}{
		{"not found", fmt.Errorf("integration %q: %w", "Halo", store.ErrNotFound), codes.NotFound, "NOT_FOUND", `"Halo"`, "", "", ""},
		{"in use", fmt.Errorf("oauth connection graph: %w", store.ErrInUse), codes.FailedPrecondition, "IN_USE", "graph", "", "", ""},
		{"SQLite busy", fmt.Errorf("begin: %w", sqlite3.Error{Code: sqlite3.ErrBusy}), codes.Unavailable, "DATABASE_UNAVAILABLE", "retry", "begin", "WARN", "begin"},
		{"connection lost", fmt.Errorf("reading the generation: %w", driver.ErrBadConn), codes.Unavailable, "DATABASE_UNAVAILABLE", "retry", "generation", "WARN", "reading the generation"},
		{"connection cut mid-query", fmt.Errorf("reading the generation: %w", io.ErrUnexpectedEOF), codes.Unavailable, "DATABASE_UNAVAILABLE", "retry", "generation", "WARN", "unexpected EOF"},
		{"deadline", fmt.Errorf("resolve: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "", "deadline", "resolve", "", ""},
		{"no connection slot before the deadline", fmt.Errorf("begin: %w", fmt.Errorf("waiting for a PostgreSQL connection slot: %w (last refusal: %w)", context.DeadlineExceeded, &pgconn.PgError{Code: "53300"})),
			codes.DeadlineExceeded, "", "deadline", "slot", "", ""},
		{"writes that collided on every attempt", fmt.Errorf("upserting mapping: %w", fmt.Errorf("%w (5 attempts): %w", store.ErrConflict, &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})),
			codes.Aborted, "CONCURRENT_CHANGES", "retry", "upserting", "WARN", "deadlock detected"},
		{"a status made for the caller", status.Error(codes.PermissionDenied, "not yours"), codes.PermissionDenied, "", "not yours", "", "", ""},
		{"unforeseen", errors.New("opening oauth_tokens.access_token of row 7: message authentication failed"), codes.Internal, "", "internal error", "row 7", "ERROR", "of row 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			st := status.Convert(toStatus(context.Background(), logger, "/m", tc.err))
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msgHas) || (tc.msgLacks != "" && strings.Contains(st.Message(), tc.msgLacks)) {
				t.Errorf("status %v %q; want %v saying %q and not %q", st.Code(), st.Message(), tc.code, tc.msgHas, tc.msgLacks)
			}
			reason := ""
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.GetReason()
				}
			}
			if reason != tc.reason {
				t.Errorf("ErrorInfo reason %q, want %q", reason, tc.reason)
			}
			logged := logs.String()
			switch {
			case tc.logLevel == "" && logged != "":
				t.Errorf("logged %q for an error the caller acts on", logged)
			case tc.logLevel != "" && (!strings.Contains(logged, "level="+tc.logLevel) || !strings.Contains(logged, tc.logHas)):
				t.Errorf("logged %q, want a %s line with %q", logged, tc.logLevel, tc.logHas)
			}
		})
	}
}
