// Command integrationsctl administers a Bifrost integrations service over gRPC.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand(os.Stdin, os.Stdout, os.Stderr, os.LookupEnv).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "integrationsctl:", err)
		os.Exit(1)
	}
}

// io is passed in so tests run the real commands against a real server.
type streams struct {
	in  io.Reader
	out io.Writer
}
