package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bifrost/integrations/audit"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

func TestFlagsOverrideEnvironmentWhichOverridesDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BIFROST_LISTEN": "127.0.0.1:1", "BIFROST_DATA_DIR": "/env/data", "BIFROST_DEV": "true"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := parseFlags([]string{"--listen", "127.0.0.1:2"}, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "127.0.0.1:2" || c.dataDir != "/env/data" || !c.dev || c.httpListen != "127.0.0.1:8080" {
		t.Fatalf("config = %+v", c)
	}
	if c.db != "sqlite:/env/data/bifrost.db" || c.keyring != "/env/data/keyring.json" || c.logFormat != "text" {
		t.Fatalf("derived defaults = %+v", c)
	}
	if _, err := parseFlags(nil, func(k string) (string, bool) { return map[string]string{"BIFROST_DEV": "maybe"}[k], k == "BIFROST_DEV" }, io.Discard); err == nil {
		t.Fatal("a bad BIFROST_DEV was accepted")
	}
}

func TestRefusesToStartWithoutKeyRingOutsideDevMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := run(context.Background(), noEnv, []string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "no key ring") {
		t.Fatalf("err = %v, want a clear 'no key ring' error", err)
	}
}

// A start that fails once the HTTP listener is up (the database, the gRPC
// port) returns its error, closing what it opened, instead of crashing.
func TestFailedStartReturnsItsError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() }) // after the parallel subtests, unlike defer
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"database unreachable", []string{"--listen", "127.0.0.1:0", "--db", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"}, "connecting to PostgreSQL"},
		{"gRPC address taken", []string{"--listen", taken.Addr().String()}, "gRPC listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--dev", "--data-dir", t.TempDir(), "--http-listen", "127.0.0.1:0"}, tc.args...)
			err := run(context.Background(), noEnv, args, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestDevModeStartsServesAndStopsGracefully(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, stop := runDaemon(t, noEnv, dir)
	ctx := context.Background()
	for _, name := range []string{"keyring.json", "admin.key"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", name, err, info.Mode().Perm())
		}
	}
	conn, authed := dialAsAdmin(t, d, dir)
	c := integrationsv1.NewIntegrationsServiceClient(conn)
	_, err := c.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Unknown"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a key: %v, want UNAUTHENTICATED", err)
	}
	_, err = c.GetIntegration(authed, &integrationsv1.GetIntegrationRequest{Name: "Unknown"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("with the admin key: %v, want NOT_FOUND", err)
	}
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: integrationsv1.IntegrationsService_ServiceDesc.ServiceName})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", hr, err)
	}
	resp, err := http.Get("http://" + d.httpListener.Addr().String() + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %v, %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + d.httpListener.Addr().String() + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %v, %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetIntegration"`,
		`grpc_server_handling_seconds_bucket`,
		`bifrost_tokens{status="connected"} 0`,
		`bifrost_audit_queue_depth`,
		`bifrost_events_written_total`,
		`bifrost_webhook_oldest_undelivered_seconds 0`,
		`go_sql_open_connections{db_name="read"}`,
		`bifrost_db_retries_total{reason="conflict"} 0`,
		`bifrost_db_retries_total{reason="no_slot"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp, err := http.Get("http://" + d.httpListener.Addr().String() + "/debug/pprof/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("pprof served without --pprof: %v, %v", resp, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("run after shutdown: %v", err)
	}
}

// dialAsAdmin connects to d in plaintext and returns a context carrying the
// admin key integrationsd wrote to dir.
func dialAsAdmin(t *testing.T, d *daemon, dir string) (*grpc.ClientConn, context.Context) {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(d.grpcListener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(key)))
}

// noEnv is an environment with no BIFROST_* or OTEL_* variables.
func noEnv(string) (string, bool) { return "", false }

// runDaemon runs integrationsd in development mode on dir with loopback ports
// and extra flags until stop is called; stop returns what run returned.
func runDaemon(t *testing.T, lookupEnv func(string) (string, bool), dir string, extra ...string) (d *daemon, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *daemon, 1)
	done := make(chan error, 1)
	args := append([]string{"--dev", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, extra...)
	go func() { done <- run(ctx, lookupEnv, args, io.Discard, ready) }()
	select {
	case d = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("integrationsd did not start")
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("integrationsd did not stop")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return d, stop
}

func TestStartingHandlerIsAliveButNotReady(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(startingHandler())
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable, "/metrics": http.StatusServiceUnavailable} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s while starting = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// --audit-flush reaches the audit writer: an event waits for it (or a full
// batch), and a shutdown writes what waits.
func TestAuditEventsWaitForTheFlushIntervalAndAShutdownWritesThem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	denied := &integrationsv1.GetIntegrationRequest{Name: "Flush_Probe"}
	probes := func(d *daemon) []*adminv1.AuditEvent {
		t.Helper()
		conn, authed := dialAsAdmin(t, d, dir)
		resp, err := adminv1.NewAdminServiceClient(conn).ListAuditEvents(authed, &adminv1.ListAuditEventsRequest{Integration: denied.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetEvents()
	}

	d, stop := runDaemon(t, noEnv, dir, "--audit-flush", "1h")
	conn, _ := dialAsAdmin(t, d, dir)
	if _, err := integrationsv1.NewIntegrationsServiceClient(conn).GetIntegration(context.Background(), denied); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call without a key: %v, want UNAUTHENTICATED", err)
	}
	// Not a poll: nothing is to appear. Ten times the default interval: with
	// the flag ignored, the event would be written by now.
	time.Sleep(10 * audit.DefaultFlushInterval)
	if events := probes(d); len(events) != 0 {
		t.Fatalf("events written before the hour's flush: %v", events)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	d, _ = runDaemon(t, noEnv, dir)
	if events := probes(d); len(events) != 1 || events[0].GetOutcome() != codes.Unauthenticated.String() {
		t.Fatalf("after the shutdown: events %v, want the one denied call", events)
	}
}

func TestAuditFlushMustBePositive(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0s", "-1s"} {
		if _, err := parseFlags([]string{"--audit-flush", v}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "--audit-flush") {
			t.Errorf("--audit-flush %s: %v, want an error naming the flag", v, err)
		}
	}
}

// --version asks for the version alone: run starts nothing, whatever else the
// command line or environment says, and no environment variable asks for it.
func TestVersionFlagStartsNothingAndNoEnvironmentVariableSetsIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := run(context.Background(), noEnv, []string{"--version", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, io.Discard, nil)
	if !errors.Is(err, errShowVersion) {
		t.Fatalf("run --version = %v, want errShowVersion", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("run --version created %d files in the data directory", len(entries))
	}
	env := func(k string) (string, bool) { return "true", k == "BIFROST_VERSION" }
	if _, err := parseFlags(nil, env, io.Discard); err != nil {
		t.Errorf("BIFROST_VERSION=true: %v, want it ignored", err)
	}
}
