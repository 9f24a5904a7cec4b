package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// A replica whose database becomes unreachable answers UNAVAILABLE, which
// clients retry, not INTERNAL; once the database is back, it serves again.
func TestDatabaseOutageIsUnavailableAndPasses(t *testing.T) {
	if !testutil.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	f := newFixture(t)
	dbURL, proxy := testutil.ProxiedDatabase(t, f.env.Path)
	replica := testutil.StartReplica(t, &testutil.Env{Path: dbURL, Master: f.env.Master, AdminKey: f.env.AdminKey})
	t.Cleanup(proxy.Restore) // before the replica stops, should the test end mid-outage
	api := replica.Integrations(t, replica.AdminKey)
	get := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("read before the outage: %v", err)
	}
	proxy.Cut()
	for range 3 {
		if err := get(); status.Code(err) != codes.Unavailable {
			t.Fatalf("read while the database is unreachable: %v, want UNAVAILABLE", err)
		}
	}
	proxy.Restore()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := get()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads did not recover once the database was back: %v", err)
		}
	}
}
