package e2eutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RemoteAgent is a `govirt agent --listen 127.0.0.1:PORT` process that an
// engine enrols over TCP, as on a second machine (it shares this machine's
// libvirtd, and sees only its own domains).
type RemoteAgent struct {
	Host     string // 127.0.0.1
	Port     string
	StateDir string
	logPath  string
	cmd      *exec.Cmd
	exited   chan error
	starts   int
}

// StartRemoteAgent runs an agent waiting for enrolment; Secret reads the
// bootstrap secret it printed.
func StartRemoteAgent(t *testing.T) *RemoteAgent {
	t.Helper()
	dir := SharedDir(t)
	addr := freeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	a := &RemoteAgent{Host: host, Port: port, StateDir: filepath.Join(dir, "agent-state"), logPath: filepath.Join(dir, "remote-agent.log")}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("remote agent log (last 6 KiB):\n%s", tail(b, 6144))
		}
	})
	a.start(t)
	return a
}

// Addr is the agent's TCP address.
func (a *RemoteAgent) Addr() string { return a.Host + ":" + a.Port }

func (a *RemoteAgent) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	a.starts++
	fmt.Fprintf(logf, "==== agent start %d ====\n", a.starts)
	cmd := exec.Command(Binary(t), "agent", "--listen", a.Addr(), "--virt-type", "qemu", "--state-dir", a.StateDir, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start govirt agent: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	a.cmd, a.exited = cmd, exited
}

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

func (a *RemoteAgent) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
	a.cmd = nil
}

// Kill ends the agent with SIGKILL. Its guests keep running in libvirtd.
func (a *RemoteAgent) Kill(t *testing.T) {
	t.Helper()
	if a.cmd == nil {
		t.Fatal("agent is not running")
	}
	_ = a.cmd.Process.Kill()
	<-a.exited
	a.cmd = nil
}

// Restart starts the agent again with the same state (its enrolment and
// host id) on the same address.
func (a *RemoteAgent) Restart(t *testing.T) {
	t.Helper()
	if a.cmd != nil {
		t.Fatal("Restart: the agent is still running")
	}
	a.start(t)
}

// ConsolePath is where the agent writes a VM's serial console.
func (a *RemoteAgent) ConsolePath(vmID string) string {
	return filepath.Join(a.StateDir, "console", vmID+".log")
}
