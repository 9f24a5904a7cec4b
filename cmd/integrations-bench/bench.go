package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
)

const benchOrg = "org-bench"

// bench holds the connection every measured call shares, and the providers
// of the scenarios that use them.
type bench struct {
	daemon *daemon
	cfg    config
	conn   *grpc.ClientConn
	admin  adminv1.AdminServiceClient
	api    integrationsv1.IntegrationsServiceClient
	health healthpb.HealthClient
	auth   context.Context
	fast   *oauthtest.Provider
	slow   *oauthtest.Provider
}

var schema = []*adminv1.ConfigField{
	{Key: "region", Type: adminv1.ConfigType_CONFIG_TYPE_STRING},
	{Key: "page_size", Type: adminv1.ConfigType_CONFIG_TYPE_INT},
	{Key: "api_key", Type: adminv1.ConfigType_CONFIG_TYPE_SECRET},
}

func newBench(ctx context.Context, d *daemon, c config) (*bench, error) {
	b, err := dial(ctx, d, c)
	if err != nil {
		return nil, err
	}
	b.fast, b.slow = oauthtest.Start(time.Hour), oauthtest.Start(c.tokenLifetime)
	b.slow.SetDelay(c.providerDelay)
	if err := b.seedBench(); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// dial connects to d as its administrator, with nothing seeded.
func dial(ctx context.Context, d *daemon, c config) (*bench, error) {
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &bench{
		daemon: d, cfg: c, conn: conn,
		admin:  adminv1.NewAdminServiceClient(conn),
		api:    integrationsv1.NewIntegrationsServiceClient(conn),
		health: healthpb.NewHealthClient(conn),
		auth:   metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.adminKey),
	}, nil
}

func (b *bench) close() {
	b.conn.Close()
	for _, p := range []*oauthtest.Provider{b.fast, b.slow} {
		if p != nil {
			p.Close()
		}
	}
}

// seedBench creates integration Bench: a schema with a secret, defaults, a
// mapping for org-bench with overrides (one secret), and a valid token; and a
// mapping of org-bench on Small whose overrides hold no secret.
func (b *bench) seedBench() error {
	ctx := b.auth
	for name, p := range map[string]*oauthtest.Provider{"fast": b.fast, "slow": b.slow} {
		margin := 5 * time.Minute
		if p == b.slow {
			margin = b.cfg.tokenLifetime / 6
		}
		if _, err := b.admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
			Name: name, Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
			AuthorizationUrl: p.Server.URL + "/authorize", TokenUrl: p.TokenURL(), RefreshMargin: durationpb.New(margin),
		}}); err != nil {
			return fmt.Errorf("seeding connection %s: %w", name, err)
		}
	}
	for _, name := range []string{"Bench", "Small", "Large"} {
		if err := b.createIntegration(name, "fast"); err != nil {
			return err
		}
	}
	overrides, _ := structpb.NewStruct(map[string]any{"page_size": 50, "api_key": "org-secret-value"})
	if _, err := b.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Bench", OrgId: benchOrg, EntityId: "tenant-bench", Config: overrides}); err != nil {
		return fmt.Errorf("seeding mapping: %w", err)
	}
	plain, _ := structpb.NewStruct(map[string]any{"page_size": 50})
	if _, err := b.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Small", OrgId: benchOrg, EntityId: "tenant-bench", Config: plain}); err != nil {
		return fmt.Errorf("seeding mapping: %w", err)
	}
	access, refresh := b.fast.Issue()
	_, err := b.admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "fast", OrgId: benchOrg, AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		return fmt.Errorf("seeding token: %w", err)
	}
	access, refresh = b.fast.Issue()
	_, err = b.admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "fast", AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	return err
}

func (b *bench) createIntegration(name, connection string) error {
	defaults, _ := structpb.NewStruct(map[string]any{"region": "eu", "page_size": 100, "api_key": "default-secret-value"})
	_, err := b.admin.CreateIntegration(b.auth, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{
		Name: name, OauthConnection: connection, ConfigSchema: schema, DefaultConfig: defaults, DefaultEntityId: "default-tenant",
	}})
	if err != nil {
		return fmt.Errorf("seeding integration %s: %w", name, err)
	}
	return nil
}

// seedScale fills the database: integrations up to the configured count, 100
// mappings on Small and the configured count on Large. The Large mappings are
// the UpsertMapping throughput figure.
func (b *bench) seedScale() (stats, error) {
	for i := 4; i <= b.cfg.integrations; i++ {
		if err := b.createIntegration(fmt.Sprintf("Filler-%04d", i), ""); err != nil {
			return stats{}, err
		}
	}
	if s := count(b.daemon, b.cfg.inFlight, 100, func(i int) error { return b.upsert("Small", i) }); s.errors > 0 {
		return s, fmt.Errorf("%d of 100 upserts failed", s.errors)
	}
	s := count(b.daemon, b.cfg.inFlight, b.cfg.mappings, func(i int) error { return b.upsert("Large", i) })
	if s.errors > 0 {
		return s, fmt.Errorf("%d of %d upserts failed", s.errors, b.cfg.mappings)
	}
	return s, nil
}

func orgID(i int) string { return fmt.Sprintf("org-%06d", i) }

func (b *bench) upsert(integration string, i int) error {
	cfg, _ := structpb.NewStruct(map[string]any{"page_size": float64(i % 500), "region": "us"})
	_, err := b.api.UpsertMapping(b.auth, &integrationsv1.UpsertMappingRequest{
		Name: integration, OrgId: orgID(i), EntityId: fmt.Sprintf("entity-%d", i), Config: cfg,
	})
	return err
}

// writeMappings returns a background load: writers goroutines upserting
// mappings of Small, one event each, until ctx ends.
func (b *bench) writeMappings(writers int) func(context.Context) {
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := w; ctx.Err() == nil; i += writers {
					_ = b.upsert("Small", i%100)
				}
			})
		}
		wg.Wait()
	}
}

// eventPosition is the event log's last position, read from a watch's first
// message.
func (b *bench) eventPosition() (int64, error) {
	ctx, cancel := context.WithCancel(b.auth)
	defer cancel()
	stream, err := b.api.WatchEvents(ctx, &integrationsv1.WatchEventsRequest{})
	if err != nil {
		return 0, fmt.Errorf("reading the event log's position: %w", err)
	}
	first, err := stream.Recv()
	if err != nil {
		return 0, fmt.Errorf("reading the event log's position: %w", err)
	}
	return first.GetHeadPosition(), nil
}

// seedRefresh creates integration Rotating on the slow provider, whose tokens
// expire every tokenLifetime, with a token for org-bench.
func (b *bench) seedRefresh() error {
	if err := b.createIntegration("Rotating", "slow"); err != nil {
		return err
	}
	access, refresh := b.slow.Issue()
	_, err := b.admin.PutToken(b.auth, &adminv1.PutTokenRequest{Connection: "slow", OrgId: benchOrg, AccessToken: access, RefreshToken: refresh,
		ExpiresAt: timestamppb.New(time.Now().Add(b.cfg.tokenLifetime))})
	return err
}

// op is call on this bench's integrationsd.
func (b *bench) op(call func(context.Context) error) op { return op{daemon: b.daemon, call: call} }

func (b *bench) check() op {
	return b.op(func(ctx context.Context) error {
		_, err := b.health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	})
}

// getMapping reads a mapping whose overrides hold no secret.
func (b *bench) getMapping(name, org string) op {
	req := &integrationsv1.GetMappingRequest{Name: name, OrgId: org}
	return b.op(func(context.Context) error {
		_, err := b.api.GetMapping(b.auth, req)
		return err
	})
}

func (b *bench) get(name, org string) op {
	req := &integrationsv1.GetIntegrationRequest{Name: name, OrgId: org}
	return b.op(func(context.Context) error {
		_, err := b.api.GetIntegration(b.auth, req)
		return err
	})
}
