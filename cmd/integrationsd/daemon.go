package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/datakeys"
	"github.com/bifrost/integrations/internal/daemonlog"
	"github.com/bifrost/integrations/internal/periodic"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
	"github.com/bifrost/integrations/store"
	"github.com/bifrost/integrations/webhook"
)

// daemon is a started integrationsd: listening, not yet serving.
type daemon struct {
	cfg          config
	logger       *slog.Logger
	store        *store.Store
	refresher    *oauth.Refresher
	audit        *audit.Recorder
	keys         *datakeys.Manager
	connect      *authcode.Flow
	master       *keyring.Rotating
	webhooks     *webhook.Dispatcher
	registry     *prometheus.Registry
	grpc         *grpc.Server
	health       *health.Server
	http         *http.Server
	grpcListener net.Listener
	httpListener net.Listener
	handler      swappableHandler
	httpErrs     chan error
}

// start returns a nil daemon with its error; the named result is only for
// the clean-up of a failed start.
func start(ctx context.Context, cfg config, logger *slog.Logger, tracing trace.TracerProvider) (_ *daemon, err error) {
	loaded, err := loadKeyring(cfg, logger)
	if err != nil {
		return nil, err
	}
	// The master key ring is reread from its file on SIGHUP and whenever a
	// data key is wrapped by a master key it does not hold (another replica
	// re-wrapped it under a newer one): see docs/operations.md.
	master := keyring.NewRotating()
	master.Set(loaded)
	tlsConfig, httpTLS, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	// HTTP answers from the start, so probes see "alive, not ready" while the
	// database opens and migrations run, instead of a refused connection.
	d := &daemon{cfg: cfg, logger: logger, health: health.NewServer(), httpErrs: make(chan error, 1)}
	d.handler.Store(startingHandler())
	if d.httpListener, err = net.Listen("tcp", cfg.httpListen); err != nil {
		return nil, fmt.Errorf("HTTP listener: %w", err)
	}
	// Idle, slow and oversized requests are cut, and connections beyond
	// --http-max-connections wait to be accepted, so they cannot pile up
	// until the process runs out of file descriptors.
	d.httpListener = netutil.LimitListener(d.httpListener, cfg.httpMaxConns)
	var handler http.Handler = &d.handler
	if cfg.clientCA != "" {
		handler = requireClientCert(handler)
	}
	d.http = &http.Server{
		Handler: handler, TLSConfig: httpTLS,
		ReadHeaderTimeout: cfg.http.readHeader, ReadTimeout: cfg.http.read, WriteTimeout: cfg.http.write,
		IdleTimeout: cfg.http.idle, MaxHeaderBytes: cfg.http.maxHeaderBytes,
	}
	publicURL := cfg.publicURL
	if publicURL == "" {
		scheme := "http"
		if tlsConfig != nil {
			scheme = "https"
		}
		publicURL = scheme + "://" + d.httpListener.Addr().String()
	}
	if httpTLS != nil {
		d.httpListener = tls.NewListener(d.httpListener, httpTLS)
	}
	go func() {
		if err := d.http.Serve(d.httpListener); !errors.Is(err, http.ErrServerClosed) {
			d.httpErrs <- err
		}
	}()
	defer func() {
		if err != nil {
			_ = d.http.Close()
		}
	}()
	if !store.IsPostgres(cfg.db) {
		path, err := store.SQLitePath(cfg.db)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
	}
	ring := keyring.NewRotating()
	st, err := store.Open(ctx, cfg.db, ring, store.WithMaxConns(cfg.dbMaxConns))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	keys, err := datakeys.New(ctx, st, master, ring, datakeys.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	d.store, d.keys, d.master = st, keys, master
	master.OnUnknownKey(d.reloadKeyring)
	if err := d.bootstrapAdminKey(ctx); err != nil {
		return nil, err
	}
	if d.grpcListener, err = net.Listen("tcp", cfg.listen); err != nil {
		return nil, fmt.Errorf("gRPC listener: %w", err)
	}
	// Each connection holds a file descriptor and buffers, and up to the
	// server's stream limit of calls: beyond --max-connections, a connection
	// waits in the listen queue until one closes.
	d.grpcListener = netutil.LimitListener(d.grpcListener, cfg.maxConns)
	var grpcOpts []grpc.ServerOption
	if tlsConfig != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	var auditWriter audit.Writer = st
	if cfg.discardAudit {
		logger.Warn("audit events are discarded (--dev-discard-audit)")
		auditWriter = audit.Discard{}
	}
	d.audit = audit.New(auditWriter, audit.Options{FlushInterval: cfg.auditFlush, Logger: logger})
	d.registry = newRegistry(st, d.audit)
	record := server.AuditWithRequestIDs(d.audit.Record)
	d.refresher = oauth.New(st, oauth.Options{Logger: logger, Audit: record, Metrics: d.registry, LeaseTTL: cfg.refreshLease, ConnectionConcurrency: cfg.refreshPerConn})
	d.connect = authcode.New(st, authcode.Options{PublicURL: publicURL, Logger: logger, Audit: record})
	d.webhooks = webhook.New(st, webhook.Options{AttemptTimeout: cfg.webhookTimeout, FirstRetry: cfg.webhookFirstRetry, Metrics: d.registry, Logger: logger})
	srv, err := server.New(server.Deps{Store: st, Refresher: d.refresher, Audit: d.audit, Keys: keys, Connect: d.connect, Metrics: d.registry, Tracing: tracing, Logger: logger})
	if err != nil {
		return nil, err
	}
	d.grpc = srv.NewGRPCServer(d.health, grpcOpts...)
	d.handler.Store(d.httpHandler())
	return d, nil
}

// swappableHandler serves whichever handler is current: the starting page,
// then the full set.
type swappableHandler struct{ atomic.Pointer[http.Handler] }

func (h *swappableHandler) Store(handler http.Handler) { h.Pointer.Store(&handler) }

func (h *swappableHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*h.Load()).ServeHTTP(w, r)
}

// startingHandler answers while the database opens: alive, not ready.
func startingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting: opening the database and applying migrations", http.StatusServiceUnavailable)
	})
	return mux
}

// reloadKeyring rereads the master key ring file (on SIGHUP, or when a data
// key names a master key the ring lacks) and then the data keys it unwraps.
// A file that does not load leaves the ring in use as it was.
func (d *daemon) reloadKeyring() error {
	ring, err := keyring.LoadFile(d.cfg.keyring)
	if err != nil {
		d.logger.Error("reloading the master key ring", "path", d.cfg.keyring, "error", err)
		return err
	}
	d.master.Set(ring)
	d.logger.Info("master key ring reloaded", "path", d.cfg.keyring, "current_master_key_id", ring.CurrentKeyID())
	return nil
}

// keyringChanged is SIGHUP: the master key ring file changed. It is reread,
// and the data keys re-wrapped at once under its current master key (as
// every replica does on its own within the data key reload interval).
func (d *daemon) keyringChanged(ctx context.Context) {
	if err := d.reloadKeyring(); err != nil {
		return
	}
	if n, err := d.keys.RewrapAll(ctx); err != nil {
		d.logger.Warn("re-wrapping data keys under the current master key", "error", err)
	} else if n > 0 {
		d.logger.Info("re-wrapped data keys under the current master key", "data_keys", n)
	}
	if err := d.keys.Reload(ctx); err != nil {
		d.logger.Warn("reloading data keys", "error", err)
	}
}

// loadKeyring reads the key ring, or in development mode creates one. Outside it
// a missing key ring is an error: silently making a new one would orphan every
// secret sealed under the old.
func loadKeyring(cfg config, logger *slog.Logger) (*keyring.Keyring, error) {
	ring, err := keyring.LoadFile(cfg.keyring)
	if !errors.Is(err, keyring.ErrNotExist) {
		return ring, err
	}
	if !cfg.dev {
		return nil, fmt.Errorf("no key ring at %s: restore it from your secrets store, point --keyring at it, "+
			"or start with --dev to create a development key ring", cfg.keyring)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.keyring), 0o700); err != nil {
		return nil, fmt.Errorf("creating key ring directory: %w", err)
	}
	ring, err = keyring.CreateFile(cfg.keyring)
	if err != nil {
		return nil, err
	}
	logger.Warn("created a development key ring; back it up, or every stored secret is lost with it", "path", cfg.keyring)
	return ring, nil
}

// serverTLS builds the TLS configurations from the flags, nil for plaintext:
// the gRPC listener's, which with --client-ca demands a client certificate
// the CA signed, and the HTTP listener's, which then only asks for one. A
// browser coming back to /oauth/callback and a load balancer's or
// Kubernetes' probe have none; requireClientCert keeps every other HTTP path
// for clients that presented one.
func serverTLS(cfg config) (grpcTLS, httpTLS *tls.Config, err error) {
	if cfg.tlsCert == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
	}
	grpcTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	httpTLS = grpcTLS.Clone()
	if cfg.clientCA != "" {
		pem, err := os.ReadFile(cfg.clientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("reading --client-ca: %w", err)
		}
		grpcTLS.ClientCAs = x509.NewCertPool()
		if !grpcTLS.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--client-ca %s holds no PEM certificate", cfg.clientCA)
		}
		grpcTLS.ClientAuth = tls.RequireAndVerifyClientCert
		// A certificate presented is verified all the same: one the CA did not
		// sign (or expired) fails the handshake, on every path.
		httpTLS.ClientCAs = grpcTLS.ClientCAs
		httpTLS.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return grpcTLS, httpTLS, nil
}

// publicHTTPPaths answer without a client certificate when --client-ca is
// set: the probes' and the browser's. Matched exactly, before any routing.
var publicHTTPPaths = map[string]bool{
	"/healthz":            true,
	"/readyz":             true,
	authcode.CallbackPath: true,
}

// requireClientCert lets a request through to next when its path is public
// or its connection presented a client certificate that verified against
// --client-ca. Every other path, /metrics and /debug/pprof/ among them, and
// any path added later, is refused with 403: the gate fails closed.
func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicHTTPPaths[r.URL.Path] || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "this path needs a client certificate signed by the --client-ca", http.StatusForbidden)
	})
}

// bootstrapAdminKey gives a new installation its first admin key, written to a
// file only its owner can read; the key itself is never logged. Replicas
// starting together on an empty database mint one key between them: the
// others find the installation done and write no file.
func (d *daemon) bootstrapAdminKey(ctx context.Context) error {
	has, err := d.store.HasAPIKeys(ctx)
	if err != nil || has {
		return err
	}
	if err := os.MkdirAll(d.cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	f, err := os.CreateTemp(d.cfg.dataDir, ".admin.key-*")
	if err != nil {
		return fmt.Errorf("writing the first admin key: %w", err)
	}
	tmp := f.Name()
	defer f.Close()
	removeTmp := true // unless it holds a stored key it could not be renamed to
	defer func() {
		if removeTmp {
			os.Remove(tmp)
		}
	}()
	created, err := server.CreateFirstAdminKey(ctx, d.store, func(secret string) error {
		if _, err := fmt.Fprintln(f, secret); err != nil {
			return fmt.Errorf("writing the first admin key: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing the first admin key: %w", err)
		}
		return nil
	})
	if err != nil || !created {
		return err
	}
	path := filepath.Join(d.cfg.dataDir, "admin.key")
	if err := os.Rename(tmp, path); err != nil {
		removeTmp = false
		return fmt.Errorf("the first admin key is stored, but moving it to %s failed (it is in %s): %w", path, tmp, err)
	}
	d.logger.Info("created the first admin key", "path", path)
	return nil
}

func (d *daemon) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.store.Ping(ctx); err != nil {
			d.logger.Warn("not ready: database does not answer", "error", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET "+authcode.CallbackPath, server.HTTPRequestIDs(d.connect))
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn)}))
	if d.cfg.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serve runs until ctx ends, then drains: health turns NOT_SERVING so load
// balancers stop sending, in-flight calls get shutdownTimeout to finish, and
// whatever is left is cut.
func (d *daemon) serve(ctx context.Context) error {
	errs := make(chan error, 1)
	refreshCtx, stopRefresher := context.WithCancel(context.WithoutCancel(ctx))
	refresherDone := make(chan struct{})
	go func() {
		defer close(refresherDone)
		d.refresher.Run(refreshCtx)
	}()
	// The jobs that write to the database are waited for before it closes:
	// a webhook attempt in flight records its outcome, a re-encryption
	// batch commits.
	var jobs sync.WaitGroup
	jobs.Go(func() { audit.Prune(refreshCtx, d.store, d.cfg.auditRetention, time.Hour, d.logger) })
	jobs.Go(func() { d.connect.PruneStates(refreshCtx, time.Hour) })
	jobs.Go(func() { d.keys.Run(refreshCtx) })
	jobs.Go(func() { d.webhooks.Run(refreshCtx) })
	jobs.Go(func() { periodic.Run(refreshCtx, time.Hour, d.pruneEvents) })
	go func() { errs <- d.grpc.Serve(d.grpcListener) }()
	d.logger.Info(daemonlog.ServingMessage, "grpc", d.grpcListener.Addr().String(), "http", d.httpListener.Addr().String())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	case serveErr = <-d.httpErrs:
	}
	d.logger.Info("shutting down", "timeout", d.cfg.shutdownTimeout)
	deadline := time.Now().Add(d.cfg.shutdownTimeout)
	d.health.Shutdown()
	stopRefresher()
	// HTTP stops taking requests with gRPC, and both get the shutdown time:
	// an OAuth callback whose code the provider is exchanging stores its
	// token before the database closes.
	httpCtx, cancelHTTP := context.WithDeadline(context.Background(), deadline)
	defer cancelHTTP()
	httpDone := make(chan error, 1)
	go func() { httpDone <- d.http.Shutdown(httpCtx) }()
	stopped := make(chan struct{})
	go func() {
		d.grpc.GracefulStop()
		close(stopped)
	}()
	if !waitUntil(stopped, deadline) {
		d.logger.Warn("shutdown timeout: cutting remaining calls")
		d.grpc.Stop()
	}
	httpErr := <-httpDone
	if httpErr != nil {
		_ = d.http.Close()
	}
	jobsDone := make(chan struct{})
	go func() { jobs.Wait(); close(jobsDone) }()
	if !waitUntil(jobsDone, deadline) {
		d.logger.Warn("shutdown timeout: background jobs left unfinished")
	}
	// A background refresh still running would leave its lease to expire; give it
	// the rest of the shutdown time.
	if !waitUntil(refresherDone, deadline) {
		d.logger.Warn("shutdown timeout: background refreshes left unfinished")
	}
	// A refresh the provider is answering (for a read or the background) is
	// stored before the store closes: the provider may have rotated the
	// refresh token, which would die with the process. It gets at least its
	// share of the lease, whatever is left of the shutdown time.
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), max(time.Until(deadline), d.cfg.refreshLease))
	if err := d.refresher.Drain(drainCtx); err != nil {
		d.logger.Error("shutting down", "error", err)
	}
	cancelDrain()
	// The audit queue gets what is left of the shutdown time, and a few seconds
	// at least: events that cannot be written by then (the database is down)
	// are reported lost rather than keeping the process from ending.
	flushBy := max(time.Until(deadline), auditFlushMin)
	auditCtx, cancelAudit := context.WithTimeout(context.Background(), flushBy)
	defer cancelAudit()
	auditErr := d.audit.Close(auditCtx)
	if auditErr != nil {
		d.logger.Error("shutting down", "error", auditErr)
	}
	return errors.Join(serveErr, httpErr, auditErr, d.store.Close())
}

// auditFlushMin is the least time queued audit events get to be written at
// shutdown, even when draining calls used up the shutdown timeout.
const auditFlushMin = 5 * time.Second

// waitUntil reports whether done closed before deadline.
func waitUntil(done <-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// pruneEvents deletes the events older than --events-retention, and the
// webhook deliveries done with them.
func (d *daemon) pruneEvents(ctx context.Context) {
	n, err := d.store.PruneEvents(ctx, time.Now().Add(-d.cfg.eventsRetention))
	if err != nil && ctx.Err() == nil {
		d.logger.Warn("pruning events", "error", err)
	} else if n > 0 {
		d.logger.Info("pruned events", "deleted", n, "retention", d.cfg.eventsRetention)
	}
}
