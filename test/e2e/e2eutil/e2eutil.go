// Package e2eutil is the shared harness of govirt's end-to-end tests: it
// builds the govirt binary and the test guest once per test process, starts
// real agent processes, and makes directories, volumes and iSCSI targets that
// QEMU (running as libvirt-qemu) can reach. Missing prerequisites fail the
// test loudly; nothing here skips.
package e2eutil

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/testguest"
)

var (
	buildOnce sync.Once
	binPath   string
	binErr    error

	guestOnce sync.Once
	guestImg  testguest.Image
	guestErr  error
)

// Binary builds the govirt binary once per test process and returns its path.
func Binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "govirt-bin-*")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "govirt")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/govirt")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/govirt: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("build govirt: %v", binErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the govirt module")
	}
	return filepath.Dir(mod), nil
}

// Guest builds (or takes from its cache) the test guest once per process.
func Guest(t *testing.T) testguest.Image {
	t.Helper()
	guestOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		guestImg, guestErr = testguest.Build(ctx, testguest.BuildOptions{
			CacheDir: testguest.DefaultCacheDir(),
			Logger:   slog.Default(),
		})
	})
	if guestErr != nil {
		t.Fatalf("build the test guest: %v", guestErr)
	}
	return guestImg
}

// SharedDir returns a fresh directory that QEMU, running unprivileged as
// libvirt-qemu, can traverse (t.TempDir's are private to root).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "govirt-e2e-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("kept %s for inspection", dir)
		}
	})
	return dir
}

// Context returns a context bounded by the test's deadline, less a margin for
// cleanup, or by max when that comes first.
func Context(t *testing.T, max time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(max)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// UniqueName returns a libvirt domain name no other test run uses.
func UniqueName(t *testing.T) string {
	return fmt.Sprintf("e2e-%s-%d-%d", sanitize(t.Name()), os.Getpid(), time.Now().UnixNano()%1e6)
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
