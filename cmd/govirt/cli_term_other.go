//go:build !linux

package main

import (
	"context"
	"os"
)

// readSecret reads a line from the terminal f; elsewhere than on Linux the
// password echoes (use --password-stdin to avoid it).
func readSecret(_ context.Context, f *os.File) (string, error) { return readLine(f) }
