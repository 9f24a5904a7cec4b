// Command integrationsd serves the Bifrost integrations API over gRPC.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/bifrost/integrations/internal/buildinfo"
	"github.com/bifrost/integrations/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keyring" {
		if err := runKeyring(os.Args[2:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "integrationsd keyring:", err)
			}
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.LookupEnv, os.Args[1:], os.Stderr, nil)
	if errors.Is(err, errShowVersion) {
		fmt.Println(buildinfo.String("integrationsd"))
		return
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "integrationsd:", err)
		}
		os.Exit(1)
	}
}

// run parses args, starts the daemon, and serves until ctx ends. ready, when not
// nil, receives the daemon once it listens.
func run(ctx context.Context, lookupEnv func(string) (string, bool), args []string, stderr io.Writer, ready chan<- *daemon) error {
	// SIGHUP (the key ring file changed) is caught from the start: Go's
	// default for it ends the process, and a replica still starting when
	// an operator signals every replica must not die of it. One that comes
	// while starting is handled once the daemon runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := parseFlags(args, lookupEnv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	tracing, stopTracing, err := setupTracing(ctx, lookupEnv)
	if err != nil {
		return err
	}
	if stopTracing != nil {
		defer func() {
			if err := stopTracing(context.WithoutCancel(ctx)); err != nil {
				logger.Warn("flushing traces", "error", err)
			}
		}()
	}
	d, err := start(ctx, cfg, logger, tracing)
	if err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d.keyringChanged(ctx)
			}
		}
	}()
	if ready != nil {
		ready <- d
	}
	return d.serve(ctx)
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "text" {
		return slog.New(server.WithRequestIDs(slog.NewTextHandler(w, opts)))
	}
	return slog.New(server.WithRequestIDs(slog.NewJSONHandler(w, opts)))
}
