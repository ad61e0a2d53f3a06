package e2eutil

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// proc is a govirt child process that a test can kill like a crash and
// start again on the same state; every start appends to one log file.
type proc struct {
	what    string // "engine", "agent": for messages
	args    []string
	env     []string
	logPath string
	grace   time.Duration // SIGTERM to SIGKILL on stop
	cmd     *exec.Cmd
	exited  chan error
	starts  int
}

// launch starts the process once more.
func (p *proc) launch(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.starts++
	fmt.Fprintf(logf, "==== %s start %d ====\n", p.what, p.starts)
	cmd := exec.Command(Binary(t), p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start govirt %s: %v", p.what, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	p.cmd, p.exited = cmd, exited
}

// stop ends the process gracefully: SIGTERM, then SIGKILL after grace.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(p.grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// Kill ends the process with SIGKILL, as a crash would: no cleanup runs.
func (p *proc) Kill(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		t.Fatalf("%s is not running", p.what)
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// mustBeStopped fails a Restart of a process that still runs.
func (p *proc) mustBeStopped(t *testing.T) {
	t.Helper()
	if p.cmd != nil {
		t.Fatalf("Restart: the %s is still running", p.what)
	}
}

// logTail is the end of the log, for a failed test.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	return tail(b, 6144)
}

// PID is the running process's id (0 when stopped), for benchmarks that
// account its CPU time.
func (p *proc) PID() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
