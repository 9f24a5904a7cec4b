package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/daemonlog"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/keyring"
)

// replica is one integrationsd process.
type replica struct {
	cmd  *exec.Cmd
	conn *grpc.ClientConn
	api  integrationsv1.IntegrationsServiceClient
	log  string // its JSON log file
}

// TestReplicasOnPostgreSQLActAsOne runs three integrationsd processes on one
// PostgreSQL database against a provider that rotates refresh tokens and
// rejects reuse.
func TestReplicasOnPostgreSQLActAsOne(t *testing.T) {
	if !testdb.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so)")
	}
	p := oauthtest.New(t, time.Hour)
	replicas, key := startReplicas(t, testdb.Database(t), 3, "--refresh-lease", "2s")
	first := replicas[0]
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	admin := adminv1.NewAdminServiceClient(first.conn)
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
		AuthorizationUrl: p.AuthorizeURL(), TokenUrl: p.TokenURL(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	put := func(org string, expires time.Time) {
		access, refresh := p.Issue()
		if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: org, AccessToken: access, RefreshToken: refresh,
			ExpiresAt: timestamppb.New(expires)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(r *replica, org string) (string, error) {
		resp, err := r.api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: org})
		return resp.GetIntegration().GetOauth().GetAccessToken(), err
	}

	t.Run("300 concurrent reads of an expired token over three replicas refresh it once", func(t *testing.T) {
		p.SetDelay(300 * time.Millisecond)
		put("org-a", time.Now().Add(-time.Minute))
		before := p.Calls("refresh_token")
		tokens := make([]string, 300)
		var wg sync.WaitGroup
		for i := range tokens {
			wg.Go(func() {
				tok, err := get(replicas[i%3], "org-a")
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
				tokens[i] = tok
			})
		}
		wg.Wait()
		if n := p.Calls("refresh_token") - before; n != 1 {
			t.Fatalf("provider saw %d refreshes, want 1", n)
		}
		for i, tok := range tokens {
			if tok != tokens[0] || !p.Valid(tok) {
				t.Fatalf("call %d got %q, call 0 %q", i, tok, tokens[0])
			}
		}
		if p.InvalidGrants() != 0 {
			t.Fatal("invalid_grant")
		}
	})

	t.Run("the background refreshers of three replicas renew a token once", func(t *testing.T) {
		p.SetDelay(0)
		before := p.Calls("refresh_token")
		put("org-b", time.Now().Add(5*time.Minute+10*time.Second)) // 10s before its 5m margin
		testutil.Eventually(t, 20*time.Second, func() error {
			if p.Calls("refresh_token") == before {
				return errors.New("no replica's background refresher renewed the token")
			}
			return nil
		})
		time.Sleep(6 * time.Second) // not a poll: every replica's refresher (every 5 s) has looked again since
		if n := p.Calls("refresh_token") - before; n != 1 {
			t.Fatalf("background refreshes = %d, want 1", n)
		}
	})

	t.Run("a replica killed holding the lease is taken over and no token is lost", func(t *testing.T) {
		p.SetDelay(3 * time.Second)
		put("org-k", time.Now().Add(-time.Minute))
		arrived := p.Arrived()
		go func() { _, _ = get(replicas[0], "org-k") }()
		testutil.Eventually(t, 10*time.Second, func() error {
			if p.Arrived() == arrived {
				return errors.New("the refresh did not reach the provider")
			}
			return nil
		})
		if err := replicas[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.SetDelay(0)
		tok, err := get(replicas[1], "org-k")
		if err != nil || !p.Valid(tok) {
			t.Fatalf("takeover: %q, %v", tok, err)
		}
		if p.InvalidGrants() != 0 {
			t.Fatal("the takeover refresh was refused: a token was lost")
		}
	})
}

// integrationsdBinary builds integrationsd once per test binary, into a
// directory removed when the tests end.
var integrationsdBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "integrationsd-bin-")
	if err != nil {
		return "", err
	}
	binary := filepath.Join(dir, "integrationsd")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return binary, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if binary, err := integrationsdBinary(); err == nil {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// launchReplica starts the integrationsd process binary with its data in
// dir/name, its JSON log in dir/name.log and args, on ports it picks itself,
// until the test ends; it does not wait for it to serve
// (daemonlog.WaitServing on the log does). It returns the process and the
// log's path.
func launchReplica(t *testing.T, binary, dir, name string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, append([]string{"--data-dir", filepath.Join(dir, name),
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, logPath
}

// startReplicas starts n integrationsd processes on the database db with one
// key ring, each with extra flags, and waits until every one serves. It
// returns them in start order with the first admin key, which the first of
// them minted (the others find the installation done).
//
// The replicas start together on the empty database, as a deployment would
// start them. (Whether their bootstraps overlap is up to timing; the store's
// test forces the race.) Each binds port 0 and logs what it bound: a port
// picked free beforehand can be taken by another process before the replica
// binds it.
func startReplicas(t *testing.T, db string, n int, extra ...string) ([]*replica, string) {
	t.Helper()
	binary, err := integrationsdBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ringPath := filepath.Join(dir, "keyring.json")
	if _, err := keyring.CreateFile(ringPath); err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	cmds, logs := make([]*exec.Cmd, n), make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("r%d", i+1)
		cmds[i], logs[i] = launchReplica(t, binary, dir, names[i], append([]string{"--db", db, "--keyring", ringPath}, extra...)...)
	}
	starting, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	replicas := make([]*replica, n)
	for i, name := range names {
		serving, err := daemonlog.WaitServing(starting, logs[i])
		if err != nil {
			content, _ := os.ReadFile(logs[i])
			t.Fatalf("replica %s: %v; its log:\n%s", name, err, content)
		}
		addr := serving.GRPC
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		replicas[i] = &replica{cmd: cmds[i], conn: conn, api: integrationsv1.NewIntegrationsServiceClient(conn), log: logs[i]}
		startBy, _ := starting.Deadline()
		testutil.Eventually(t, time.Until(startBy), func() error {
			resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("replica %s did not serve on %s: %v, %v", name, addr, resp.GetStatus(), err)
			}
			return nil
		})
	}
	// Exactly one of them minted the first admin key and wrote it down.
	var key []byte
	var first *replica
	for i, name := range names {
		k, err := os.ReadFile(filepath.Join(dir, name, "admin.key"))
		switch {
		case err == nil && first == nil:
			key, first = k, replicas[i]
		case err == nil:
			t.Fatalf("replicas starting together minted more than one first admin key (%s too)", name)
		case !os.IsNotExist(err):
			t.Fatal(err)
		}
	}
	if first == nil {
		t.Fatal("no replica wrote the first admin key")
	}
	// The caller talks to the first replica first; which one minted the key
	// does not matter to it.
	return replicas, strings.TrimSpace(string(key))
}
