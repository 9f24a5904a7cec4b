package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/buildinfo"
)

// app holds the global flags and, once connected, the clients.
type app struct {
	streams
	lookupEnv   func(string) (string, bool)
	addr        string
	key         string
	keyFile     string
	insecure    bool
	caFile      string
	certFile    string
	certKeyFile string
	output      string
	showSecrets bool
	// dialOptions lets tests reach an in-memory server.
	dialOptions []grpc.DialOption

	conn         *grpc.ClientConn
	admin        adminv1.AdminServiceClient
	integrations integrationsv1.IntegrationsServiceClient
}

func newRootCommand(in io.Reader, out, errOut io.Writer, lookupEnv func(string) (string, bool), dialOptions ...grpc.DialOption) *cobra.Command {
	a := &app{streams: streams{in: in, out: out, errOut: errOut}, lookupEnv: lookupEnv, dialOptions: dialOptions}
	root := &cobra.Command{
		Use:   "integrationsctl",
		Short: "Administer a Bifrost integrations service",
		Long: `Administer a Bifrost integrations service over gRPC.

integrationsctl reads the service's address from BIFROST_ADDR (--addr) and an
API key from BIFROST_API_KEY (--key-file); help, completion and --version need
neither. Commands print tables; with -o json they print the API's answer as
JSON instead (see "integrationsctl help json").`,
		Version:       buildinfo.String("integrationsctl"),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if offline(cmd) {
				return nil
			}
			// Before the key is looked for: a mistake on the command line
			// is told as such, wherever the command runs.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return usageError(cmd, err.Error())
			}
			return a.connect()
		},
		PersistentPostRunE: func(*cobra.Command, []string) error {
			if a.conn != nil {
				return a.conn.Close()
			}
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err.Error()) })
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetIn(in)
	f := root.PersistentFlags()
	f.StringVar(&a.addr, "addr", envOr(lookupEnv, "BIFROST_ADDR", "127.0.0.1:50051"), "service address (BIFROST_ADDR)")
	f.StringVar(&a.key, "key", "", "API key (BIFROST_API_KEY); prefer --key-file or the environment, which stay out of shell history")
	f.StringVar(&a.keyFile, "key-file", "", "file holding the API key, - for stdin")
	f.BoolVar(&a.insecure, "insecure", envOr(lookupEnv, "BIFROST_INSECURE", "true") == "true", "plaintext instead of TLS (BIFROST_INSECURE); the default suits a local development server")
	f.StringVar(&a.caFile, "ca-file", envOr(lookupEnv, "BIFROST_CA_FILE", ""), "PEM CA bundle to verify the server with (implies TLS) (BIFROST_CA_FILE)")
	f.StringVar(&a.certFile, "cert", envOr(lookupEnv, "BIFROST_CLIENT_CERT", ""), "PEM client certificate for mTLS (implies TLS) (BIFROST_CLIENT_CERT)")
	f.StringVar(&a.certKeyFile, "cert-key", envOr(lookupEnv, "BIFROST_CLIENT_KEY", ""), "PEM private key of --cert (BIFROST_CLIENT_KEY)")
	f.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&a.showSecrets, "show-secrets", false, "print tokens, client secrets and secret config values (redacted otherwise; without the integration's schema, which only admin keys read, every mapping config value is)")
	root.AddCommand(
		a.integrationsCommand(),
		a.connectionsCommand(),
		a.tokensCommand(),
		a.mappingsCommand(),
		a.keysCommand(),
		a.getCommand(),
		a.auditCommand(),
		a.webhooksCommand(),
		a.connectCommand(),
		a.disconnectCommand(),
		a.providersCommand(),
		jsonHelpTopic(),
	)
	explainArgumentErrors(root)
	return root
}

func envOr(lookupEnv func(string) (string, bool), name, fallback string) string {
	if v, ok := lookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

func (a *app) connect() error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	key, err := a.apiKey()
	if err != nil {
		return err
	}
	transport := insecure.NewCredentials()
	if !a.insecure || a.caFile != "" || a.certFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.certFile != "" {
			cert, err := tls.LoadX509KeyPair(a.certFile, a.certKeyFile)
			if err != nil {
				return fmt.Errorf("loading --cert/--cert-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		if a.caFile != "" {
			pem, err := os.ReadFile(a.caFile)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s holds no PEM certificate", a.caFile)
			}
		}
		transport = credentials.NewTLS(cfg)
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
			return a.friendly(invoker(ctx, method, req, reply, cc, opts...))
		}),
	}, a.dialOptions...)
	a.conn, err = grpc.NewClient(a.addr, opts...)
	if err != nil {
		return err
	}
	a.admin = adminv1.NewAdminServiceClient(a.conn)
	a.integrations = integrationsv1.NewIntegrationsServiceClient(a.conn)
	return nil
}

// checkOutput refuses an --output integrationsctl cannot print.
func (a *app) checkOutput() error {
	if a.output != "text" && a.output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", a.output)
	}
	return nil
}

func (a *app) apiKey() (string, error) {
	switch {
	case a.keyFile != "":
		return readSecret(a.in, a.keyFile)
	case a.key != "":
		return a.key, nil
	}
	if k, ok := a.lookupEnv("BIFROST_API_KEY"); ok && k != "" {
		return k, nil
	}
	return "", errors.New("no API key: set BIFROST_API_KEY, or pass --key-file (make run writes one to ./data/admin.key)")
}

// readSecret reads a secret from a file, or stdin for "-", without the trailing
// newline, so secrets never have to appear on a command line.
func readSecret(stdin io.Reader, path string) (string, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimRight(string(raw), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret from %s is empty", path)
	}
	return s, nil
}
