package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
)

// While its database is unreachable integrationsd is not ready, and SIGTERM
// still ends it with audit events waiting to be written: it reports them lost
// instead of waiting for the database forever.
func TestDatabaseDownMeansNotReadyAndShutdownStillEnds(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	dbURL, proxy := testutil.ProxiedDatabase(t, testdb.Database(t))
	dir := t.TempDir()
	d, stop := runDaemon(t, noEnv, dir, "--db", dbURL, "--shutdown-timeout", "1s")
	conn, ctx := dialAsAdmin(t, d, dir)
	api := integrationsv1.NewIntegrationsServiceClient(conn)

	readyz := func() int {
		t.Helper()
		resp, err := http.Get("http://" + d.httpListener.Addr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the database up: %d", code)
	}
	proxy.Cut()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database down: %d, want 503", code)
	}
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
