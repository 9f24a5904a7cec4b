package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
	"github.com/bifrost/integrations/store"
)

// config is integrationsd's settings: each flag also reads BIFROST_<NAME>, and a
// flag given on the command line wins over the environment.
type config struct {
	listen            string
	httpListen        string
	dataDir           string
	db                string
	dbMaxConns        int
	keyring           string
	dev               bool
	logLevel          slog.Level
	logFormat         string
	shutdownTimeout   time.Duration
	tlsCert           string
	tlsKey            string
	clientCA          string
	auditRetention    time.Duration
	eventsRetention   time.Duration
	webhookTimeout    time.Duration
	webhookFirstRetry time.Duration
	auditFlush        time.Duration
	discardAudit      bool
	pprof             bool
	publicURL         string
	refreshLease      time.Duration
	refreshPerConn    int
	maxConns          int
	httpMaxConns      int
	http              httpLimits
}

// httpLimits bound what one connection to the HTTP listener may hold; they
// are not flags (tests shorten them). --http-max-connections bounds how many.
type httpLimits struct {
	readHeader time.Duration // request line and headers
	read       time.Duration // the whole request, body included
	// write runs from the end of the headers to the end of the response:
	// longer than a 30 s /debug/pprof/profile, which refuses to outlast it.
	write          time.Duration
	idle           time.Duration // a kept-alive connection between requests
	maxHeaderBytes int           // browsers' cookies for the host included
}

// maxRefreshLease is the longest --refresh-lease: a read that finds a token
// leased by a replica that died waits out the lease, then refreshes under
// its own (oauth.LongestWait: twice the lease), and must still be answered
// within server.MaxCallTime (30 s), with time to spare for the rest of the
// call (TestRefreshLeaseLetsAReadWaitingOnADeadReplicaBeAnsweredWithinTheCallCap).
const maxRefreshLease = 14 * time.Second

var defaultHTTPLimits = httpLimits{
	readHeader: 5 * time.Second, read: 10 * time.Second, write: time.Minute, idle: time.Minute,
	maxHeaderBytes: 64 << 10,
}

// errShowVersion is parseFlags' answer to --version: print it, start nothing.
var errShowVersion = errors.New("--version")

func parseFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("integrationsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:50051", "gRPC listen address (BIFROST_LISTEN)")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:8080", "HTTP listen address for /healthz, /readyz, /oauth/callback and /metrics (BIFROST_HTTP_LISTEN)")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory for the SQLite database, key ring and admin key (BIFROST_DATA_DIR)")
	fs.StringVar(&c.db, "db", "", "database URL: sqlite:PATH or postgres://... (default: sqlite:<data-dir>/bifrost.db) (BIFROST_DB)")
	fs.IntVar(&c.dbMaxConns, "db-max-conns", store.DefaultMaxConns, "most PostgreSQL connections this replica opens, for writes, reads and data keys together; calls beyond them wait for one (BIFROST_DB_MAX_CONNS)")
	fs.StringVar(&c.keyring, "keyring", "", "key ring file (default: <data-dir>/keyring.json) (BIFROST_KEYRING)")
	fs.BoolVar(&c.dev, "dev", false, "development mode: create a key ring if there is none, log as text (BIFROST_DEV)")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error (BIFROST_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", "", "json or text (default: text with --dev, else json) (BIFROST_LOG_FORMAT)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight calls may finish on SIGTERM (BIFROST_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate to serve gRPC and HTTP over TLS (BIFROST_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert (BIFROST_TLS_KEY)")
	fs.StringVar(&c.clientCA, "client-ca", "", "PEM CA bundle; when set, gRPC, /metrics and pprof need a client certificate it signed (mTLS), while /healthz, /readyz and /oauth/callback answer without one (BIFROST_CLIENT_CA)")
	fs.DurationVar(&c.auditRetention, "audit-retention", 90*24*time.Hour, "audit events older than this are deleted (BIFROST_AUDIT_RETENTION)")
	fs.DurationVar(&c.eventsRetention, "events-retention", 30*24*time.Hour, "events older than this are deleted, with their finished webhook deliveries; at least 48h, longer than webhooks are retried (BIFROST_EVENTS_RETENTION)")
	fs.DurationVar(&c.webhookTimeout, "webhook-timeout", 10*time.Second, "how long one webhook delivery attempt may take (BIFROST_WEBHOOK_TIMEOUT)")
	fs.DurationVar(&c.webhookFirstRetry, "webhook-first-retry", 5*time.Second, "wait after a webhook delivery's first failed attempt, doubled after each up to an hour; retries go on for 26h (BIFROST_WEBHOOK_FIRST_RETRY)")
	fs.DurationVar(&c.auditFlush, "audit-flush", audit.DefaultFlushInterval, "longest an audit event waits to be written, which bounds what a killed process loses (a shutdown writes the queue); longer makes larger batches under load (BIFROST_AUDIT_FLUSH)")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL browsers reach the HTTP listener at, for OAuth redirect URIs (default: http(s)://<http-listen>) (BIFROST_PUBLIC_URL)")
	fs.IntVar(&c.refreshPerConn, "refresh-concurrency", 4, "most background refreshes one replica sends one connection's provider at once (BIFROST_REFRESH_CONCURRENCY)")
	fs.DurationVar(&c.refreshLease, "refresh-lease", oauth.DefaultLeaseTTL, fmt.Sprintf("how long a replica may hold a token's refresh, at most %s; a replica that dies holding one blocks that token this long, and the provider gets two thirds of it to answer (BIFROST_REFRESH_LEASE)", maxRefreshLease))
	fs.IntVar(&c.maxConns, "max-connections", 1024, "most gRPC connections open at once; more wait in the listen queue until one closes (BIFROST_MAX_CONNECTIONS)")
	fs.IntVar(&c.httpMaxConns, "http-max-connections", 256, "most HTTP connections open at once; more wait in the listen queue until one closes (BIFROST_HTTP_MAX_CONNECTIONS)")
	fs.BoolVar(&c.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the HTTP listener (BIFROST_PPROF)")
	fs.BoolVar(&c.discardAudit, "dev-discard-audit", false, "development only: record no audit events, to measure their cost (make bench)")
	if err := applyEnv(fs, lookupEnv); err != nil {
		return config{}, err
	}
	// Defined after applyEnv: no environment variable turns a start into a
	// version print.
	showVersion := fs.Bool("version", false, "print the version and the commit it was built from, and exit")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if *showVersion {
		return config{}, errShowVersion
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return config{}, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.discardAudit && !c.dev {
		return config{}, fmt.Errorf("--dev-discard-audit is for benchmarks and needs --dev")
	}
	if c.eventsRetention < 48*time.Hour {
		return config{}, fmt.Errorf("--events-retention must be at least 48h, not %s", c.eventsRetention)
	}
	if c.webhookTimeout <= 0 || c.webhookFirstRetry <= 0 {
		return config{}, fmt.Errorf("--webhook-timeout and --webhook-first-retry must be positive")
	}
	if c.auditFlush <= 0 {
		return config{}, fmt.Errorf("--audit-flush must be positive, not %s", c.auditFlush)
	}
	if c.refreshPerConn <= 0 {
		return config{}, fmt.Errorf("--refresh-concurrency must be positive, not %d", c.refreshPerConn)
	}
	if c.refreshLease <= 0 || c.refreshLease > maxRefreshLease {
		return config{}, fmt.Errorf("--refresh-lease must be positive and at most %s, so that a read waiting on a dead replica's lease is answered within the %s a call may take; not %s",
			maxRefreshLease, server.MaxCallTime, c.refreshLease)
	}
	if c.dbMaxConns < store.MinMaxConns {
		return config{}, fmt.Errorf("--db-max-conns must be at least %d (one connection for writes, reads and data keys each), not %d", store.MinMaxConns, c.dbMaxConns)
	}
	if c.maxConns <= 0 {
		return config{}, fmt.Errorf("--max-connections must be positive, not %d", c.maxConns)
	}
	if c.httpMaxConns <= 0 {
		return config{}, fmt.Errorf("--http-max-connections must be positive, not %d", c.httpMaxConns)
	}
	c.http = defaultHTTPLimits
	if c.clientCA != "" && c.tlsCert == "" {
		return config{}, fmt.Errorf("--client-ca needs --tls-cert and --tls-key")
	}
	if c.db == "" {
		c.db = "sqlite:" + filepath.Join(c.dataDir, "bifrost.db")
	}
	if c.keyring == "" {
		c.keyring = filepath.Join(c.dataDir, "keyring.json")
	}
	switch c.logFormat {
	case "":
		c.logFormat = map[bool]string{true: "text", false: "json"}[c.dev]
	case "json", "text":
	default:
		return config{}, fmt.Errorf("--log-format must be json or text, not %q", c.logFormat)
	}
	return c, nil
}

// applyEnv sets each flag from its BIFROST_* variable before the command line is
// parsed, so the command line overrides the environment.
func applyEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("%s=%q: %w", name, v, setErr)
		}
	})
	return err
}

func envName(flagName string) string {
	return "BIFROST_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
