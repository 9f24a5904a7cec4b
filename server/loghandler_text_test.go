package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/server"
)

// Whatever text a log line carries (a message, an attribute, an error, a group
// member, an attribute bound with With), the characters that could break or
// reorder the line come out neutralised, as they are in the audit log.
func TestLogLinesNeutraliseEveryCharacterThatDisguisesALine(t *testing.T) {
	t.Parallel()
	for _, c := range testutil.Disguising {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			for _, newHandler := range []func(io.Writer) slog.Handler{
				func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
				func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
			} {
				var out bytes.Buffer
				hostile := "provider said" + string(c.R) + "level=INFO msg=ok"
				logger := slog.New(server.WithRequestIDs(newHandler(&out))).With("bound", hostile)
				logger.WarnContext(context.Background(), "refresh failed: "+hostile, "detail", hostile, "error", errors.New(hostile), slog.Group("provider", "body", hostile))
				line, ended := strings.CutSuffix(out.String(), "\n")
				if !ended || strings.ContainsRune(line, c.R) || strings.Count(line, "\uFFFD") != 5 {
					t.Fatalf("log line %q; want U+%04X replaced by U+FFFD in each of its 5 texts", line, c.R)
				}
			}
		})
	}
}
