package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/oauth"
)

// A replica whose database becomes unreachable answers UNAVAILABLE, which
// clients retry, not INTERNAL; once the database is back, it serves again.
func TestDatabaseOutageIsUnavailableAndPasses(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	f := newFixture(t)
	dbURL, proxy := testutil.ProxiedDatabase(t, f.env.Path)
	replica := testutil.StartReplicaVia(t, f.env, dbURL)
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
	testutil.Eventually(t, 10*time.Second, func() error {
		if err := get(); err != nil {
			return fmt.Errorf("reads did not recover once the database was back: %w", err)
		}
		return nil
	})
}

// The database going away while the provider answers a refresh does not lose
// the refresh token the provider just rotated: the answer is stored once the
// database is back, and the next refresh presents the new refresh token.
func TestRefreshAnswerSurvivesADatabaseOutage(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	f := newRefreshFixture(t, time.Hour, oauth.Options{})
	f.putIssued(t, "org-a", time.Now().Add(time.Minute)) // inside the refresh margin: a read refreshes
	dbURL, proxy := testutil.ProxiedDatabase(t, f.env.Path)
	replica := testutil.StartReplicaVia(t, f.env, dbURL, oauth.Options{HTTPClient: f.provider.Server.Client()})
	t.Cleanup(proxy.Restore)

	// The database goes away once the provider has the request, and comes back
	// a second later; the provider answers in between.
	f.provider.SetDelay(300 * time.Millisecond)
	arrived := f.provider.Arrived()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type answer struct {
		resp *integrationsv1.GetIntegrationResponse
		err  error
	}
	answered := make(chan answer, 1)
	api := replica.Integrations(t, replica.AdminKey)
	go func() {
		resp, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		answered <- answer{resp, err}
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if f.provider.Arrived() == arrived {
			return errors.New("the refresh did not reach the provider")
		}
		return nil
	})
	proxy.Cut()
	time.Sleep(time.Second) // not a poll: how long the database stays away
	proxy.Restore()
	got := <-answered
	resp, err := got.resp, got.err
	if err != nil {
		t.Fatalf("read whose refresh met a database outage: %v", err)
	}
	if access := resp.GetIntegration().GetOauth().GetAccessToken(); !f.provider.Valid(access) || f.provider.Calls("refresh_token") != 1 {
		t.Fatalf("after one refresh: token valid %v, %d refreshes", f.provider.Valid(access), f.provider.Calls("refresh_token"))
	}
	f.provider.SetDelay(0)
	if _, err := f.get(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a", ForceRefresh: true}); err != nil || f.provider.InvalidGrants() != 0 {
		t.Fatalf("the next refresh: %v, %d refused grants; want the stored rotated refresh token accepted", err, f.provider.InvalidGrants())
	}
}
