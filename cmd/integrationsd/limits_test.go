package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// With --max-connections 1, a connection that sends nothing holds the only
// slot: a second client is not served until it closes.
func TestGRPCListenerServesAtMostMaxConnections(t *testing.T) {
	t.Parallel()
	d, _ := runDaemon(t, noEnv, t.TempDir(), "--max-connections", "1")
	addr := d.grpcListener.Addr().String()
	holder, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	// Not a poll: the daemon shows no sign of having accepted the holder's
	// connection; the pause lets it take that one before the client's.
	time.Sleep(100 * time.Millisecond)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	check := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(500 * time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("health check while the only connection is taken: %v, want DEADLINE_EXCEEDED", err)
	}
	holder.Close()
	if err := check(10 * time.Second); err != nil {
		t.Fatalf("health check once the connection closed: %v", err)
	}
}

func TestConnectionLimitsMustBePositive(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--max-connections", "--http-max-connections"} {
		for _, v := range []string{"0", "-1"} {
			if _, err := parseFlags([]string{flag, v}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), flag) {
				t.Errorf("%s %s: %v, want an error naming the flag", flag, v, err)
			}
		}
	}
}

// runDaemonWith is runDaemon with settings that are not flags changed by
// adjust.
func runDaemonWith(t *testing.T, adjust func(*config), extra ...string) *daemon {
	t.Helper()
	args := append([]string{"--dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, extra...)
	cfg, err := parseFlags(args, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	adjust(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := start(ctx, cfg, newLogger(cfg, io.Discard), nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

// A connection to the HTTP listener that goes quiet (between requests, in
// its headers or its body) is closed once its time is up, and headers over
// the limit are refused, so such connections cannot pile up.
func TestHTTPListenerClosesIdleSlowAndOversizedConnections(t *testing.T) {
	t.Parallel()
	limits := httpLimits{readHeader: 300 * time.Millisecond, read: 500 * time.Millisecond, write: 2 * time.Second,
		idle: 300 * time.Millisecond, maxHeaderBytes: 4 << 10}
	d := runDaemonWith(t, func(c *config) { c.http = limits })
	addr := d.httpListener.Addr().String()
	for _, tc := range []struct {
		name string
		send string // what the client writes before it goes quiet
		want string // how the answer starts; "" for none
	}{
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 "},
		{"headers never finished", "GET /healthz HTTP/1.1\r\nHost: x\r\n", ""},
		{"body never finished", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc", "HTTP/1.1 200 "},
		{"headers over the limit", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", "HTTP/1.1 431 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(5 * time.Second))
			// Read until the server closes (EOF, or a reset when it left
			// bytes unread) or the deadline passes.
			got, err := io.ReadAll(conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection was still open after %s (read %q): %v", time.Since(start), truncate(got), err)
			}
			if !strings.HasPrefix(string(got), tc.want) || (tc.want == "" && len(got) > 0) {
				t.Fatalf("answer %q, want one starting %q", truncate(got), tc.want)
			}
		})
	}
}

func truncate(b []byte) string { return string(b[:min(len(b), 80)]) }

// With --http-max-connections 1, a connection that sends nothing holds the
// only slot: a probe is not answered until it closes.
func TestHTTPListenerServesAtMostMaxConnections(t *testing.T) {
	t.Parallel()
	d, _ := runDaemon(t, noEnv, t.TempDir(), "--http-max-connections", "1")
	url := "http://" + d.httpListener.Addr().String() + "/healthz"
	holder, err := net.Dial("tcp", d.httpListener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	time.Sleep(100 * time.Millisecond) // not a poll (nothing to observe): the holder's connection is accepted first
	get := func(timeout time.Duration) error {
		c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if err := get(500 * time.Millisecond); err == nil {
		t.Fatal("/healthz answered while the only connection was taken")
	}
	holder.Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("/healthz once the connection closed: %v", err)
	}
}

// Everything integrationsd keeps in an existing data directory holds or
// guards secrets, and is readable by its owner only even under umask 000.
func TestDataDirFilesAreReadableByTheirOwnerOnly(t *testing.T) {
	// Not parallel: the umask is the process's.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer syscall.Umask(syscall.Umask(0))
	runDaemon(t, noEnv, dir)
	for _, name := range []string{"keyring.json", "admin.key", "bifrost.db", "bifrost.db-wal"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("%s is %v, want -rw-------", name, got)
		}
	}
}
