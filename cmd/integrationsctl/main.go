// Command integrationsctl administers a Bifrost integrations service over gRPC.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := execute(ctx, newRootCommand(os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "integrationsctl:", err)
		os.Exit(1)
	}
}

// execute runs root and says of a command stopped by Ctrl-C that it was
// interrupted, rather than "context canceled" or whatever the call it was in
// made of it.
func execute(ctx context.Context, root *cobra.Command) error {
	err := root.ExecuteContext(ctx)
	var interrupted *interruptedError
	if err != nil && ctx.Err() != nil && !errors.As(err, &interrupted) {
		return &interruptedError{}
	}
	return err
}

// interruptedError is a command stopped by Ctrl-C (or SIGTERM); what says
// what was left undone, if anything.
type interruptedError struct{ what string }

func (e *interruptedError) Error() string {
	if e.what == "" {
		return "interrupted"
	}
	return "interrupted: " + e.what
}

// io is passed in so tests run the real commands against a real server.
type streams struct {
	in  io.Reader
	out io.Writer
	// errOut takes what a person should read while a command runs that is
	// not its output (connect's link, with -o json).
	errOut io.Writer
}
