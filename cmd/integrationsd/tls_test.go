package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/client"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/oauthtest"
	"github.com/bifrost/integrations/internal/testutil"
)

// With --client-ca, a client certificate is what lets a caller reach the
// gRPC API, /metrics and pprof; the probes' endpoints and the OAuth callback
// answer a TLS client without one, as load balancers and browsers are.
func TestMutualTLSGuardsTheAPIAndMetricsButNotProbesOrTheCallback(t *testing.T) {
	t.Parallel()
	certs := testutil.NewCerts(t)
	d, _ := runDaemon(t, noEnv, t.TempDir(), "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--client-ca", certs.CA, "--pprof")
	roots, clientCert := clientTLS(t, certs)
	withCert := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}
	withoutCert := &tls.Config{RootCAs: roots}
	// A certificate the server's CA did not sign, from a client that trusts the
	// server.
	_, strangerCert := clientTLS(t, testutil.NewCerts(t))
	withStrangerCert := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{strangerCert}}

	t.Run("gRPC", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			creds  credentials.TransportCredentials
			wantOK bool
		}{
			{"TLS with a client certificate is served", credentials.NewTLS(withCert), true},
			{"TLS without a client certificate is refused", credentials.NewTLS(withoutCert), false},
			{"TLS with a certificate of another CA is refused", credentials.NewTLS(withStrangerCert), false},
			{"plaintext is refused", insecure.NewCredentials(), false},
		} {
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
	})

	t.Run("HTTP", func(t *testing.T) {
		base := "https://" + d.httpListener.Addr().String()
		for _, tc := range []struct {
			name string
			tls  *tls.Config
			path string
			want int // 0: the TLS handshake fails
		}{
			{"/healthz answers a probe without a client certificate", withoutCert, "/healthz", http.StatusOK},
			{"/readyz answers a probe without a client certificate", withoutCert, "/readyz", http.StatusOK},
			{"/oauth/callback answers a browser without a client certificate", withoutCert, authcode.CallbackPath, http.StatusBadRequest},
			{"/healthz answers a client with a certificate too", withCert, "/healthz", http.StatusOK},
			{"/metrics refuses a client without a certificate", withoutCert, "/metrics", http.StatusForbidden},
			{"/metrics serves a client with a certificate", withCert, "/metrics", http.StatusOK},
			{"pprof refuses a client without a certificate", withoutCert, "/debug/pprof/", http.StatusForbidden},
			{"pprof's handlers all refuse a client without a certificate", withoutCert, "/debug/pprof/cmdline", http.StatusForbidden},
			{"pprof serves a client with a certificate", withCert, "/debug/pprof/", http.StatusOK},
			{"a path not known to be public refuses a client without a certificate", withoutCert, "/healthz/../metrics", http.StatusForbidden},
			{"an unknown path is not found for a client with a certificate", withCert, "/nothing-here", http.StatusNotFound},
			{"a certificate of another CA fails the handshake, even for /healthz", withStrangerCert, "/healthz", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, err := httpsGet(tc.tls, base+tc.path)
				if tc.want == 0 {
					if err == nil {
						t.Fatalf("GET %s answered %d, want a failed handshake", tc.path, status)
					}
					return
				}
				if err != nil || status != tc.want {
					t.Fatalf("GET %s: %d, %v; want %d", tc.path, status, err, tc.want)
				}
			})
		}
	})

	// The whole connect of a person's account: an admin starts it over mTLS, the
	// person consents at the provider, and their browser, which has no client
	// certificate, brings the code back to /oauth/callback.
	t.Run("a browser without a client certificate completes the OAuth connect", func(t *testing.T) {
		provider := oauthtest.New(t, time.Hour)
		conn, err := grpc.NewClient(d.grpcListener.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(withCert)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(adminContext(t, d.cfg.dataDir), 10*time.Second)
		defer cancel()
		admin := adminv1.NewAdminServiceClient(conn)
		if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
			Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: provider.ClientID, ClientSecret: provider.ClientSecret,
			AuthorizationUrl: provider.AuthorizeURL(), TokenUrl: provider.TokenURL(),
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "graph"}}); err != nil {
			t.Fatal(err)
		}
		started, err := admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{Connection: "graph", OrgId: "org-a", MappingIntegration: "Graph"})
		if err != nil {
			t.Fatal(err)
		}
		authURL, err := url.Parse(started.GetAuthorizationUrl())
		if err != nil {
			t.Fatal(err)
		}
		q := authURL.Query()
		if !strings.HasPrefix(q.Get("redirect_uri"), "https://") {
			t.Fatalf("redirect_uri %q is not the HTTPS listener", q.Get("redirect_uri"))
		}
		// The person approves at the provider, which sends the browser back.
		back, err := provider.Decide(authURL, "approve")
		if err != nil {
			t.Fatalf("decision at the provider: %v", err)
		}
		browser := &http.Client{Transport: &http.Transport{TLSClientConfig: withoutCert}}
		defer browser.CloseIdleConnections()
		resp, err := browser.Get(back)
		if err != nil {
			t.Fatalf("the browser's way back to the callback: %v", err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Connected") {
			t.Fatalf("callback page %d: %s", resp.StatusCode, page)
		}
		got, err := integrationsv1.NewIntegrationsServiceClient(conn).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		if err != nil {
			t.Fatal(err)
		}
		if tok := got.GetIntegration().GetOauth().GetAccessToken(); !provider.Valid(tok) {
			t.Fatalf("after the connect, GetIntegration hands out %q, not a token the provider issued", tok)
		}
	})
}

// httpsGet GETs url as a client with tlsConfig, on a connection of its own,
// and returns the status.
func httpsGet(tlsConfig *tls.Config, url string) (int, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// adminContext carries the admin key integrationsd wrote to dir.
func adminContext(t *testing.T, dir string) context.Context {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(key)))
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
