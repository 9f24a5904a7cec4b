// Package testutil starts a real integrations server for tests: the real store
// on a SQLite file in a temporary directory, the real interceptor chain, over an
// in-memory gRPC connection (bufconn).
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/datakeys"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
	"github.com/bifrost/integrations/store"
)

// Env is one running server.
type Env struct {
	Store     *store.Store
	Refresher *oauth.Refresher
	Keys      *datakeys.Manager
	// Master is the master key ring, Path the database URL, for tests that
	// open the database as a second replica.
	Master   *keyring.Keyring
	Path     string
	AdminKey string
	// CallbackURL is the base URL of the HTTP server with /oauth/callback.
	CallbackURL string
	// Logs holds everything the server logged, to search for leaked secrets.
	Logs     *SyncBuffer
	listener *bufconn.Listener
	grpc     *grpc.Server
}

// SyncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Keyring returns a key ring with one fresh key.
func Keyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	key, err := keyring.NewKey(1)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(1, []keyring.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// Start runs a server until the test ends. refresh tunes its token refresher
// (the provider's HTTP client, backoff); the background refresher is not started.
func Start(t testing.TB, refresh ...oauth.Options) *Env {
	t.Helper()
	env := start(t, testdb.Database(t), Keyring(t), refresh)
	var err error
	_, env.AdminKey, err = server.CreateAPIKey(context.Background(), env.Store, store.APIKey{Name: "test admin", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// StartReplica runs another server on of's database, with the same master key
// and admin key: a second replica.
func StartReplica(t testing.TB, of *Env, refresh ...oauth.Options) *Env {
	t.Helper()
	return StartReplicaVia(t, of, of.Path, refresh...)
}

// StartReplicaVia is StartReplica reaching of's database through dbURL (a
// proxy's, say).
func StartReplicaVia(t testing.TB, of *Env, dbURL string, refresh ...oauth.Options) *Env {
	t.Helper()
	env := start(t, dbURL, of.Master, refresh)
	env.AdminKey = of.AdminKey
	return env
}

func start(t testing.TB, path string, master *keyring.Keyring, refresh []oauth.Options) *Env {
	t.Helper()
	ring := keyring.NewRotating()
	st, err := store.Open(context.Background(), path, ring)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := datakeys.New(context.Background(), st, master, ring, datakeys.Options{RetireGrace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	logger := slog.New(server.WithRequestIDs(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var opts oauth.Options
	if len(refresh) > 0 {
		opts = refresh[0]
	}
	opts.Logger = logger
	recorder := audit.New(st, audit.Options{Logger: logger, FlushInterval: 5 * time.Millisecond})
	opts.Audit = server.AuditWithRequestIDs(recorder.Record)
	refresher := oauth.New(st, opts)
	// The callback listens on a real loopback HTTP server, as browsers reach it.
	callback := httptest.NewUnstartedServer(nil)
	flow := authcode.New(st, authcode.Options{PublicURL: "http://" + callback.Listener.Addr().String(), HTTPClient: opts.HTTPClient, Logger: logger, Audit: opts.Audit})
	mux := http.NewServeMux()
	mux.Handle("GET "+authcode.CallbackPath, server.HTTPRequestIDs(flow))
	callback.Config.Handler = mux
	callback.Start()
	srv, err := server.New(server.Deps{Store: st, Refresher: refresher, Audit: recorder, Keys: keys, Connect: flow, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.NewGRPCServer(health.NewServer())
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop below
	t.Cleanup(func() {
		callback.Close()
		gs.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := recorder.Close(ctx); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return &Env{Store: st, Refresher: refresher, Keys: keys, Master: master, Path: path, Logs: logs, CallbackURL: callback.URL, listener: lis, grpc: gs}
}

// Stop stops the server at once, closing every connection: a replica dying.
func (e *Env) Stop() { e.grpc.Stop() }

// ServeTCP serves the same server on a loopback TCP port too and returns its
// address, for clients that dial real addresses; stop closes that listener.
func (e *Env) ServeTCP(t testing.TB) (addr string, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.grpc.Serve(lis) //nolint:errcheck // ends when lis closes or the server stops
	return lis.Addr().String(), func() { lis.Close() }
}

// Conn returns a client connection that sends key (none when empty).
func (e *Env) Conn(t testing.TB, key string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return e.listener.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withKey(ctx, key), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withKey(ctx, key), desc, cc, method, opts...)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// withKey sends key as the call's bearer token; none when empty.
func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// Dialer lets other clients (the Go client package) reach the server.
func (e *Env) Dialer() func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) { return e.listener.DialContext(ctx) }
}

// Admin returns an AdminService client with the admin key.
func (e *Env) Admin(t testing.TB) adminv1.AdminServiceClient {
	return adminv1.NewAdminServiceClient(e.Conn(t, e.AdminKey))
}

// AuditEvent waits (up to 5 s: events are written in batches) for the newest
// audit event that filter selects and match accepts, and returns it.
func (e *Env) AuditEvent(t testing.TB, filter *adminv1.ListAuditEventsRequest, match func(*adminv1.AuditEvent) bool) *adminv1.AuditEvent {
	t.Helper()
	admin := e.Admin(t)
	var found *adminv1.AuditEvent
	Eventually(t, 5*time.Second, func() error {
		events, err := admin.ListAuditEvents(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(events.GetEvents(), match)
		if i < 0 {
			return fmt.Errorf("no such audit event among %v", events)
		}
		found = events.GetEvents()[i]
		return nil
	})
	return found
}

// AuditMethod matches the audit events of method, for AuditEvent.
func AuditMethod(method string) func(*adminv1.AuditEvent) bool {
	return func(e *adminv1.AuditEvent) bool { return e.GetMethod() == method }
}

// Integrations returns an IntegrationsService client with key.
func (e *Env) Integrations(t testing.TB, key string) integrationsv1.IntegrationsServiceClient {
	return integrationsv1.NewIntegrationsServiceClient(e.Conn(t, key))
}

// NewKey creates an API key and returns its secret.
func (e *Env) NewKey(t testing.TB, role adminv1.Role, org string) string {
	t.Helper()
	resp, err := e.Admin(t).CreateApiKey(context.Background(), &adminv1.CreateApiKeyRequest{Name: "test", Role: role, OrgId: org})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSecret()
}
