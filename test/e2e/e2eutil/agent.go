package e2eutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/vmspec"
)

// AgentProc is a real `govirt agent` process started for one test.
type AgentProc struct {
	proc
	HostID   string
	StateDir string
	Addr     string // the gRPC target the client dialled
	Client   *agentrpc.Client
	creds    credentials.TransportCredentials
}

// AgentOptions changes how StartAgent runs the agent.
type AgentOptions struct {
	// Listen is a TCP address (127.0.0.1:0 style is not possible for a
	// child; pass a free port) served over mTLS with the files below.
	// Empty: a unix socket in the test's directory.
	Listen                    string
	ServerCert, ServerKey, CA string
	ClientCreds               credentials.TransportCredentials
	HostID                    string
	// LUNEnforcer is the agent's --lun-enforcer (empty: its default, the
	// guard).
	LUNEnforcer string
}

// StartAgent runs `govirt agent --virt-type qemu` with its own host id and
// state dir and returns a connected client. The agent stops when the test ends.
func StartAgent(t *testing.T, opts AgentOptions) *AgentProc {
	t.Helper()
	dir := SharedDir(t)
	p := &AgentProc{HostID: opts.HostID, StateDir: filepath.Join(dir, "state")}
	if p.HostID == "" {
		p.HostID = uuid.NewString()
	}
	args := []string{"agent", "--virt-type", "qemu", "--host-id", p.HostID, "--state-dir", p.StateDir, "--log-level", "debug",
		"--guard-ports", nextGuardPorts()}
	if opts.LUNEnforcer != "" {
		args = append(args, "--lun-enforcer", opts.LUNEnforcer)
	}
	creds := insecure.NewCredentials()
	if opts.Listen == "" {
		sock := filepath.Join(dir, "agent.sock")
		args = append(args, "--listen", "unix:"+sock)
		p.Addr = "unix://" + sock
	} else {
		args = append(args, "--listen", opts.Listen, "--tls-cert", opts.ServerCert, "--tls-key", opts.ServerKey, "--tls-ca", opts.CA)
		p.Addr = opts.Listen
		creds = opts.ClientCreds
	}
	p.proc = proc{what: "agent", args: args, logPath: filepath.Join(dir, "agent.log"), grace: 10 * time.Second}
	p.creds = creds
	p.launch(t)
	t.Cleanup(func() { p.stop(t) })
	return p
}

// launch starts the agent process (its log appended to the test's) and
// connects Client once it serves.
func (p *AgentProc) launch(t *testing.T) {
	t.Helper()
	p.proc.launch(t)
	// Dial pings, so retry until the agent serves (or exits).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := agentrpc.Dial(ctx, p.Addr, p.creds)
		if err == nil {
			// Closed by stop, after the test's own cleanups (which destroy
			// its VMs through this client) ran: a cleanup registered here
			// would run first and leak every VM after a Restart.
			p.Client = c
			return
		}
		select {
		case err := <-p.exited:
			t.Fatalf("agent exited: %v\n%s", err, p.Log())
		case <-ctx.Done():
			t.Fatalf("agent at %s never answered: %v\n%s", p.Addr, err, p.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Restart stops the agent process and starts a new one with the same host
// id, state directory and address, as an upgrade or a crash would; running
// guests are not touched.
func (p *AgentProc) Restart(t *testing.T) {
	t.Helper()
	p.stop(t)
	p.launch(t)
}

func (p *AgentProc) stop(t *testing.T) {
	if p.Client != nil {
		p.Client.Close()
	}
	p.proc.stop()
	if t.Failed() {
		t.Logf("agent log:\n%s", p.Log())
	}
}

// Log returns what the agent process has logged so far.
func (p *AgentProc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// ConsolePath is where the agent writes a VM's serial console.
func (p *AgentProc) ConsolePath(vmID string) string {
	return filepath.Join(p.StateDir, "console", vmID+".log")
}

// StartVM starts vm on the agent and destroys it when the test ends.
func (p *AgentProc) StartVM(ctx context.Context, t *testing.T, vm vmspec.VM) {
	t.Helper()
	if err := p.Client.StartVM(ctx, vm); err != nil {
		t.Fatalf("start vm %s: %v", vm.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Client.DestroyVM(ctx, vm.ID)
		if t.Failed() {
			b, _ := os.ReadFile(p.ConsolePath(vm.ID))
			t.Logf("console of %s (last 4 KiB):\n%s", vm.Name, tail(b, 4096))
		}
	})
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// BaseVM is a 1-vCPU TCG guest that boots the test guest directly, with the
// guest agent and one virtio-scsi controller, and no disks yet.
func BaseVM(t *testing.T) vmspec.VM {
	t.Helper()
	img := Guest(t)
	return vmspec.VM{
		ID:          uuid.NewString(),
		Name:        UniqueName(t),
		MemoryMiB:   384,
		VCPUs:       1,
		VirtType:    vmspec.VirtQEMU,
		Boot:        vmspec.DirectBoot{Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: img.Cmdline},
		GuestAgent:  true,
		Controllers: []vmspec.Controller{{Index: 0}},
	}
}

// NewVolumes creates n qcow2 volumes of sizeMiB in a fresh storage domain
// directory through the agent and returns the directory and volume ids.
func (p *AgentProc) NewVolumes(ctx context.Context, t *testing.T, n int, sizeMiB uint64) (string, []string) {
	t.Helper()
	dir := filepath.Join(SharedDir(t), "sd")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		if _, err := p.Client.CreateVolume(ctx, agentVolume(dir, ids[i], sizeMiB)); err != nil {
			t.Fatalf("create volume %d: %v", i, err)
		}
	}
	return dir, ids
}

// String names the agent in failure messages.
func (p *AgentProc) String() string { return fmt.Sprintf("agent %s at %s", p.HostID, p.Addr) }
