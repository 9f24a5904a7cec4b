package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// SIGTERM ends integrationsd even while its database is unreachable and audit
// events wait to be written: it reports them lost instead of waiting for the
// database forever.
func TestShutdownEndsWhileTheDatabaseIsDownAndReportsLostAuditEvents(t *testing.T) {
	if !testutil.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	dbURL, proxy := testutil.ProxiedDatabase(t, testutil.Database(t))
	dir := t.TempDir()
	d, stop := runDaemon(t, noEnv, dir, "--db", dbURL, "--shutdown-timeout", "1s")
	conn, ctx := dialAsAdmin(t, d, dir)
	api := integrationsv1.NewIntegrationsServiceClient(conn)

	proxy.Cut()
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A change is audited whatever its outcome, so this queues an event the
	// database cannot take.
	_, err := api.DeleteMapping(callCtx, &integrationsv1.DeleteMappingRequest{Name: "Graph", OrgId: "org-a"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a change while the database is down: %v, want UNAVAILABLE", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err == nil || !strings.Contains(err.Error(), "audit events were not written") {
			t.Fatalf("shutdown with the database down: %v; want the lost audit events reported", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("integrationsd did not shut down while its database was down")
	}
}
