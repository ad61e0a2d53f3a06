// Command govirt is the single govirt binary: the engine, the host agent and
// the command-line client are its subcommands. main only wires things up.
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
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "govirt:", err)
		os.Exit(1)
	}
}
