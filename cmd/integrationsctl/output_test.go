package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// No character a caller sent can break or reorder a line of integrationsctl's
// output: not in the audit log (stored neutralised), not in text the server
// keeps as sent (an integration's description, where right-to-left marks are
// allowed), in text tables or in JSON, where they are escaped.
func TestOutputNeutralisesEveryCharacterThatDisguisesALine(t *testing.T) {
	t.Parallel()
	env := testutil.Start(t)
	ctx := context.Background()
	admin := env.Admin(t)
	api := env.Integrations(t, env.AdminKey)
	for i, c := range testutil.Disguising {
		// Refused (org IDs are names), and audited with the org as sent.
		_, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Halo", OrgId: fmt.Sprintf("org-%d%cOK", i, c.R)})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("upsert with a hostile org: %v", err)
		}
		// Kept as sent where validation allows it (it refuses control characters).
		_, err = admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
			Name: fmt.Sprintf("I%d", i), Description: fmt.Sprintf("desc %d%cOK", i, c.R),
		}})
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Fatal(err)
		}
	}
	// Audit events are written in batches: wait for all of them (two a
	// character), so that every subtest reads the same log.
	testutil.Eventually(t, 5*time.Second, func() error {
		events, err := admin.ListAuditEvents(ctx, &adminv1.ListAuditEventsRequest{PageSize: 1000})
		if n := len(events.GetEvents()); err != nil || n < 2*len(testutil.Disguising) {
			return fmt.Errorf("%d audit events written, %v", n, err)
		}
		return nil
	})
	for _, c := range testutil.Disguising {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			outputs := map[string]string{}
			for _, args := range [][]string{
				{"audit", "--limit", "1000"},
				{"audit", "--limit", "1000", "-o", "json"},
				{"integrations", "list"},
				{"integrations", "list", "-o", "json"},
			} {
				out := mustCtl(t, env, "", args...)
				if strings.ContainsRune(out, c.R) && c.R != '\n' {
					t.Errorf("integrationsctl %s prints U+%04X:\n%s", strings.Join(args, " "), c.R, out)
				}
				outputs[strings.Join(args, " ")] = out
			}
			// Every event is one line: each line after the header starts with
			// the event's time, and no line is cut short.
			text := outputs["audit --limit 1000"]
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			if len(lines) < 1+len(testutil.Disguising) {
				t.Fatalf("audit prints %d lines:\n%s", len(lines), text)
			}
			for _, line := range lines[1:] {
				if !strings.HasPrefix(line, "20") || !strings.Contains(line, "ADMIN") {
					t.Fatalf("audit prints a line that is no whole event: %q", line)
				}
			}
			var listed struct {
				Integrations []struct{ Description string }
			}
			if err := json.Unmarshal([]byte(outputs["integrations list -o json"]), &listed); err != nil {
				t.Fatal(err)
			}
			for _, in := range listed.Integrations {
				if strings.HasPrefix(in.Description, "desc") && !strings.HasSuffix(in.Description, "OK") {
					t.Errorf("-o json does not keep the description as stored: %q", in.Description)
				}
			}
		})
	}
}
