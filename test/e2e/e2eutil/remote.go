package e2eutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RemoteAgent is a `govirt agent --listen 127.0.0.1:PORT` process that an
// engine enrols over TCP, as on a second machine (it shares this machine's
// libvirtd, and sees only its own domains).
type RemoteAgent struct {
	proc
	Host     string // 127.0.0.1
	Port     string
	StateDir string
}

// RemoteAgentOptions change how StartRemoteAgentWith runs the agent.
type RemoteAgentOptions struct {
	// LibvirtSocket is the libvirtd it drives (empty: the system one).
	LibvirtSocket string
	// LibvirtURI is the driver it opens there (empty: qemu:///system).
	LibvirtURI string
	// MigrationURI is its --migration-uri (empty: none).
	MigrationURI string
}

// StartRemoteAgent runs an agent waiting for enrolment; Secret reads the
// bootstrap secret it printed.
func StartRemoteAgent(t *testing.T) *RemoteAgent {
	t.Helper()
	return StartRemoteAgentWith(t, RemoteAgentOptions{})
}

// StartRemoteAgentWith is StartRemoteAgent with options.
func StartRemoteAgentWith(t *testing.T, opts RemoteAgentOptions) *RemoteAgent {
	t.Helper()
	dir := SharedDir(t)
	host, port, _ := strings.Cut(freeAddr(t), ":")
	a := &RemoteAgent{Host: host, Port: port, StateDir: filepath.Join(dir, "agent-state")}
	a.proc = proc{what: "agent", logPath: filepath.Join(dir, "remote-agent.log"), grace: 10 * time.Second,
		args: []string{"agent", "--listen", a.Addr(), "--virt-type", "qemu", "--state-dir", a.StateDir, "--log-level", "debug"}}
	if opts.LibvirtSocket != "" {
		a.args = append(a.args, "--libvirt-socket", opts.LibvirtSocket)
	}
	if opts.LibvirtURI != "" {
		a.args = append(a.args, "--libvirt-uri", opts.LibvirtURI)
	}
	if opts.MigrationURI != "" {
		a.args = append(a.args, "--migration-uri", opts.MigrationURI, "--migration-trust-storage")
	}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("remote agent log (last 6 KiB):\n%s", a.logTail())
		}
	})
	a.launch(t)
	return a
}

// Addr is the agent's TCP address.
func (a *RemoteAgent) Addr() string { return a.Host + ":" + a.Port }

// Secret waits for the bootstrap secret the agent prints when it is not
// enrolled.
func (a *RemoteAgent) Secret(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(a.logPath)
		if _, after, ok := strings.Cut(string(b), "(as root_password):\n"); ok {
			if line, _, ok := strings.Cut(after, "\n"); ok {
				return strings.TrimSpace(line)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent printed no bootstrap secret:\n%s", b)
		}
		select {
		case err := <-a.exited:
			t.Fatalf("agent exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Restart starts the agent again with the same state (its enrolment and
// host id) on the same address.
func (a *RemoteAgent) Restart(t *testing.T) {
	t.Helper()
	a.mustBeStopped(t)
	a.launch(t)
}

// ConsolePath is where the agent writes a VM's serial console.
func (a *RemoteAgent) ConsolePath(vmID string) string {
	return filepath.Join(a.StateDir, "console", vmID+".log")
}
