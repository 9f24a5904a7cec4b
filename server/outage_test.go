package server_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
)

// cuttableProxy forwards TCP connections to target until cut, which drops
// every connection and refuses new ones until restored: a database that
// becomes unreachable and comes back.
type cuttableProxy struct {
	target   string
	listener net.Listener
	mu       sync.Mutex
	down     bool
	conns    []net.Conn
}

func startProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{target: target, listener: l}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *cuttableProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cuttableProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A replica whose database becomes unreachable answers UNAVAILABLE, which
// clients retry, not INTERNAL; once the database is back, it serves again.
func TestDatabaseOutageIsUnavailableAndPasses(t *testing.T) {
	if !testutil.IsPostgres() {
		t.Skip("needs BIFROST_TEST_DB=postgres (make test runs it so): a SQLite file cannot become unreachable")
	}
	t.Parallel()
	f := newFixture(t)
	dbURL, err := url.Parse(f.env.Path)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, dbURL.Host)
	dbURL.Host = proxy.listener.Addr().String()
	replica := testutil.StartReplica(t, &testutil.Env{Path: dbURL.String(), Master: f.env.Master, AdminKey: f.env.AdminKey})
	t.Cleanup(proxy.restore) // before the replica stops, should the test end mid-outage
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
	proxy.cut()
	for range 3 {
		if err := get(); status.Code(err) != codes.Unavailable {
			t.Fatalf("read while the database is unreachable: %v, want UNAVAILABLE", err)
		}
	}
	proxy.restore()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := get()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads did not recover once the database was back: %v", err)
		}
	}
}
