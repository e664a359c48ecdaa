// Command abuseguard detects abuse from and against a hosting provider's
// customer servers in traffic data, blocks the servers at the network edge,
// and runs the road back to unblocking. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd(os.Stdout, os.Stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "abuseguard: %v\n", err)
		os.Exit(exitCode(err))
	}
}
