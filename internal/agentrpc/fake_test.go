package agentrpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/vmspec"
)

// fake is a Service that records the arguments of its last call and returns
// canned results: the RPC layer's tests check translation, not agent logic.
type fake struct {
	mu   sync.Mutex
	last []any // method name, then its arguments
	err  error // returned by every method when set

	vms    []agent.VMStatus
	live   agent.LiveVM
	disks  []agent.GuestDisk
	exec   agent.ExecResult
	path   string
	events chan agent.Event
}

var (
	_ Service         = (*fake)(nil)
	_ VersionReporter = (*fake)(nil)
)

func newFake() *fake { return &fake{events: make(chan agent.Event, 8)} }

func (f *fake) record(args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = args
	return f.err
}

func (f *fake) lastCall() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fake) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fake) HostID() string { return "host-7" }

func (f *fake) Versions(context.Context) (string, string, error) {
	return "9.0.0", "8.2.0", nil
}

func (f *fake) StartVM(_ context.Context, vm vmspec.VM) error { return f.record("StartVM", vm) }

func (f *fake) ShutdownVM(_ context.Context, id string, timeout time.Duration) error {
	return f.record("ShutdownVM", id, timeout)
}

func (f *fake) DestroyVM(_ context.Context, id string) error { return f.record("DestroyVM", id) }

func (f *fake) ListVMs(context.Context) ([]agent.VMStatus, error) {
	return f.vms, f.record("ListVMs")
}

func (f *fake) LiveVM(_ context.Context, id string) (agent.LiveVM, error) {
	return f.live, f.record("LiveVM", id)
}

func (f *fake) HotPlugDisk(_ context.Context, vmID string, d vmspec.Disk) error {
	return f.record("HotPlugDisk", vmID, d)
}

func (f *fake) ChangeMedia(_ context.Context, vmID string, d vmspec.Disk) error {
	return f.record("ChangeMedia", vmID, d)
}

func (f *fake) HotUnplugDisk(_ context.Context, vmID, diskID string, timeout time.Duration) error {
	return f.record("HotUnplugDisk", vmID, diskID, timeout)
}

func (f *fake) HotPlugController(_ context.Context, vmID string, c vmspec.Controller) error {
	return f.record("HotPlugController", vmID, c)
}

func (f *fake) GuestDisks(_ context.Context, vmID string) ([]agent.GuestDisk, error) {
	return f.disks, f.record("GuestDisks", vmID)
}

func (f *fake) GuestExec(_ context.Context, vmID, path string, args []string, stdin []byte, timeout time.Duration) (agent.ExecResult, error) {
	return f.exec, f.record("GuestExec", vmID, path, args, stdin, timeout)
}

func (f *fake) CreateVolume(_ context.Context, v agent.Volume) (string, error) {
	return f.path, f.record("CreateVolume", v)
}

func (f *fake) RemoveVolume(_ context.Context, v agent.Volume) error {
	return f.record("RemoveVolume", v)
}

func (f *fake) Events(context.Context) (<-chan agent.Event, error) {
	if err := f.record("Events"); err != nil {
		return nil, err
	}
	return f.events, nil
}

// testLogger sends the server's records to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serve runs an agent server for svc on ln until the test ends.
func serve(t *testing.T, ln net.Listener, svc Service, creds credentials.TransportCredentials) {
	t.Helper()
	g := grpc.NewServer(ServerOptions(creds)...)
	NewServer(svc, testLogger(t)).Register(g)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
}

// unixClient serves svc on a unix socket in a temporary directory and dials
// it in plain text, as a local engine does.
func unixClient(t *testing.T, svc Service) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "agent.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, svc, nil)
	c, err := Dial(testCtx(t), "unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx bounds every call, so a hang fails the test instead of stalling it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
