package main

import (
	"context"
	"io"
	"net"
	"strings"
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
	// The holder's connection is accepted before the client's.
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
	for _, flag := range []string{"--max-connections"} {
		for _, v := range []string{"0", "-1"} {
			if _, err := parseFlags([]string{flag, v}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), flag) {
				t.Errorf("%s %s: %v, want an error naming the flag", flag, v, err)
			}
		}
	}
}
