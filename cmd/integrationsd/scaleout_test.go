package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testdb"
)

// Five replicas with default settings share one PostgreSQL with the default
// max_connections (100) under 150 reads and 50 upserts in flight, and answer
// every call: each stays within its --db-max-conns, and what contention there
// is (a pooled connection to wait for, a deadlock or serialization failure to
// retry) is absorbed inside the server. The issue this guards against saw
// thousands of UNAVAILABLE answers from exactly this load. It is the
// shortened form: seconds of load, not minutes.
func TestFiveReplicasWithDefaultSettingsAnswerEveryCallUnderLoad(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so)")
	}
	const (
		replicaCount = 5
		readers      = 150
		upserters    = 50
		orgs         = 100
		loadFor      = 8 * time.Second
	)
	defaults, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The replicas name themselves to PostgreSQL by an application name of
	// this test's own, so that their connections can be counted apart from
	// other tests' on the same server.
	db := testdb.Database(t)
	appName := "scaleout-" + fmt.Sprint(time.Now().UnixNano())
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	replicas, key := startReplicas(t, u.String(), replicaCount)

	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	p := oauthtest.New(t, time.Hour)
	admin := adminv1.NewAdminServiceClient(replicas[0].conn)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
		AuthorizationUrl: p.AuthorizeURL(), TokenUrl: p.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name: "Graph", OauthConnection: "graph", ConfigSchema: []*adminv1.ConfigField{
			{Key: "region", Type: adminv1.ConfigType_CONFIG_TYPE_STRING},
			{Key: "page_size", Type: adminv1.ConfigType_CONFIG_TYPE_INT},
			{Key: "api_key", Type: adminv1.ConfigType_CONFIG_TYPE_SECRET},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	org := func(i int) string { return fmt.Sprintf("org-%03d", i%orgs) }
	upsert := func(api integrationsv1.IntegrationsServiceClient, i int) error {
		cfg, _ := structpb.NewStruct(map[string]any{"page_size": float64(i % 500), "region": "eu", "api_key": fmt.Sprint("secret-", i)})
		_, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Graph", OrgId: org(i), EntityName: fmt.Sprint("Org ", i), Config: cfg})
		return err
	}
	for i := range orgs {
		access, refresh := p.Issue()
		if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: org(i), AccessToken: access, RefreshToken: refresh,
			ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if err := upsert(replicas[0].api, i); err != nil {
			t.Fatal(err)
		}
	}

	peak := watchConnections(t, appName)
	var reads, upserts, failed atomic.Int64
	var mu sync.Mutex
	byCode := map[string]int{}
	fail := func(what string, err error) {
		failed.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if byCode[status.Code(err).String()]++; byCode[status.Code(err).String()] == 1 {
			t.Errorf("%s: %v", what, err)
		}
	}
	// Each call runs under the server's own cap (no deadline of the caller):
	// the load ends between calls, never by cancelling one.
	stop := time.Now().Add(loadFor)
	var wg sync.WaitGroup
	for w := range readers {
		wg.Go(func() {
			api := replicas[w%replicaCount].api
			for i := w; time.Now().Before(stop); i += readers {
				resp, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: org(i)})
				switch {
				case err != nil:
					fail("GetIntegration", err)
				case !p.Valid(resp.GetIntegration().GetOauth().GetAccessToken()):
					fail("GetIntegration", fmt.Errorf("%s got no valid access token", org(i)))
				default:
					reads.Add(1)
				}
			}
		})
	}
	for w := range upserters {
		wg.Go(func() {
			api := replicas[w%replicaCount].api
			// Upserters share organizations, so that some write the same
			// mapping at once.
			for i := w; time.Now().Before(stop); i += 7 {
				if err := upsert(api, i); err != nil {
					fail("UpsertMapping", err)
				} else {
					upserts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	connections := peak()
	t.Logf("%d replicas, %d reads and %d upserts in flight for %v: %d reads, %d upserts answered, %d failed %v; at most %d PostgreSQL connections open",
		replicaCount, readers, upserters, loadFor, reads.Load(), upserts.Load(), failed.Load(), byCode, connections)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d calls failed, by code %v; want 0", failed.Load(), failed.Load()+reads.Load()+upserts.Load(), byCode)
	}
	if reads.Load() < readers || upserts.Load() < upserters {
		t.Fatalf("only %d reads and %d upserts answered in %v", reads.Load(), upserts.Load(), loadFor)
	}
	if limit := replicaCount * defaults.dbMaxConns; connections > limit {
		t.Fatalf("the replicas had %d connections open at once, more than %d × --db-max-conns %d", connections, replicaCount, defaults.dbMaxConns)
	}
}

// watchConnections samples how many PostgreSQL connections the application
// appName has open until the returned function is called, which returns the
// most seen at once.
func watchConnections(t *testing.T, appName string) (peak func() int) {
	t.Helper()
	db, err := sql.Open("pgx", testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	done, stopped := make(chan struct{}), make(chan struct{})
	most := 0
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int
			// A failed sample (the server is full) is skipped, not fatal.
			if db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n) == nil {
				most = max(most, n)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int {
		close(done)
		<-stopped
		db.Close()
		return most
	}
}
