package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bifrost/integrations/client"
	"github.com/bifrost/integrations/internal/testutil"
)

func TestMutualTLSAdmitsOnlyClientsWithACertificate(t *testing.T) {
	t.Parallel()
	certs := testutil.NewCerts(t)
	d, _ := runDaemon(t, noEnv, t.TempDir(), "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--client-ca", certs.CA)
	roots, clientCert := clientTLS(t, certs)
	cases := []struct {
		name   string
		creds  credentials.TransportCredentials
		wantOK bool
	}{
		{"TLS with a client certificate", credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}), true},
		{"TLS without a client certificate", credentials.NewTLS(&tls.Config{RootCAs: roots}), false},
		{"plaintext", insecure.NewCredentials(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(d.grpcListener.Addr().String(), grpc.WithTransportCredentials(tc.creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			callCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{})
			if (err == nil) != tc.wantOK {
				t.Fatalf("health check err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}

// The Go client's WithTLS carries a workflow's key over mutual TLS: an
// authenticated call reaches the service.
func TestGoClientCallsOverMutualTLS(t *testing.T) {
	t.Parallel()
	certs := testutil.NewCerts(t)
	dir := t.TempDir()
	d, _ := runDaemon(t, noEnv, dir, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--client-ca", certs.CA)
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots, clientCert := clientTLS(t, certs)
	c, err := client.New(d.grpcListener.Addr().String(), client.WithAPIKey(strings.TrimSpace(string(key))),
		client.WithTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if data, err := c.Get(ctx, "Nope"); data != nil || err != nil {
		t.Fatalf("Get of an unknown integration over mTLS: %v, %v; want nil, nil", data, err)
	}
}

func TestTLSFlagsMustComeTogether(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--tls-cert", "a.pem"}, {"--client-ca", "ca.pem"}} {
		if _, err := parseFlags(args, func(string) (string, bool) { return "", false }, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted an incomplete TLS setup", args)
		}
	}
}

// clientTLS loads what a client needs to reach a server of certs over mutual
// TLS: the CA to trust and the client's certificate.
func clientTLS(t *testing.T, certs testutil.Certs) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return roots, clientCert
}
