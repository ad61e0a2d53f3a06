package e2eutil

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
)

// EngineProc is a real `govirt engine --local-host --virt-type qemu` process.
type EngineProc struct {
	proc
	URL      string // http://127.0.0.1:PORT
	StateDir string
	Token    string
}

// EngineOptions change how StartEngine runs the engine.
type EngineOptions struct {
	DB string // empty: SQLite in the state dir
	// LogLevel is the engine's --log-level (empty: debug, for tests; the
	// benchmark suite runs at info, as users do).
	LogLevel string
	// MigrationURI is the local host's --migration-uri (empty: none).
	MigrationURI string
	// MaxColdDisks is the local agent's --max-cold-disks (0: the agent
	// decides by QEMU's argument limit): a low one makes every start with
	// more disks go through the staged path.
	MaxColdDisks int
	// LUNEnforcer is the local agent's --lun-enforcer (empty: its
	// default, the guard).
	LUNEnforcer string
}

// AdminPassword is admin@internal's password in end-to-end tests.
const AdminPassword = "e2e-admin-password"

// StartEngine runs an engine with a local host and logs in as admin.
func StartEngine(t *testing.T, opts EngineOptions) *EngineProc {
	t.Helper()
	dir := SharedDir(t)
	addr := freeAddr(t)
	p := &EngineProc{URL: "http://" + addr, StateDir: filepath.Join(dir, "state")}
	level := opts.LogLevel
	if level == "" {
		level = "debug"
	}
	p.proc = proc{what: "engine", logPath: filepath.Join(dir, "engine.log"), grace: 15 * time.Second,
		env: []string{"GOVIRT_ADMIN_PASSWORD=" + AdminPassword},
		args: []string{"engine", "--local-host", "--virt-type", "qemu", "--state-dir", p.StateDir, "--listen", addr, "--log-level", level,
			"--guard-ports", nextGuardPorts()}}
	if opts.DB != "" {
		p.args = append(p.args, "--db", opts.DB)
	}
	if opts.MigrationURI != "" {
		// Both test hosts share this machine's one filesystem, which
		// libvirt cannot know is shared.
		p.args = append(p.args, "--migration-uri", opts.MigrationURI, "--migration-trust-storage")
	}
	if opts.MaxColdDisks > 0 {
		p.args = append(p.args, "--max-cold-disks", strconv.Itoa(opts.MaxColdDisks))
	}
	if opts.LUNEnforcer != "" {
		p.args = append(p.args, "--lun-enforcer", opts.LUNEnforcer)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("engine log (last 6 KiB):\n%s", p.logTail())
		}
	})
	p.start(t)
	return p
}

// start runs the engine process (again, after Kill) and logs in.
func (p *EngineProc) start(t *testing.T) {
	t.Helper()
	p.launch(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if tok, err := p.login(); err == nil {
			p.Token = tok
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("engine never answered: %v\n%s", err, p.logTail())
		}
		select {
		case err := <-p.exited:
			t.Fatalf("engine exited: %v\n%s", err, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Restart starts the engine again on the same state and database (after
// Kill: its in-process local agent died with it, guests kept running in
// libvirtd) and logs in again.
func (p *EngineProc) Restart(t *testing.T) {
	t.Helper()
	p.mustBeStopped(t)
	p.start(t)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (p *EngineProc) login() (string, error) { return p.LoginAs("admin@internal", AdminPassword) }

// LoginAs gets an SSO token for a user.
func (p *EngineProc) LoginAs(user, password string) (string, error) {
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}, "scope": {"ovirt-app-api"}}
	resp, err := http.PostForm(p.URL+"/ovirt-engine/sso/oauth/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("login: status %d: %v", resp.StatusCode, err)
	}
	return out.AccessToken, nil
}

// Do sends an XML request to the API and decodes an XML answer into out
// (when out is not nil and the status is 2xx). It returns the status and
// the raw body.
func (p *EngineProc) Do(ctx context.Context, method, path string, in, out any) (int, string, error) {
	return p.DoAs(ctx, p.Token, method, path, in, out)
}

// DoAs is Do with another user's token.
func (p *EngineProc) DoAs(ctx context.Context, token, method, path string, in, out any) (int, string, error) {
	var body io.Reader
	if in != nil {
		b, err := xml.Marshal(in)
		if err != nil {
			return 0, "", err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+"/ovirt-engine/api"+path, body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 && len(raw) > 0 {
		if err := xml.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, string(raw), err
		}
	}
	return resp.StatusCode, string(raw), nil
}

// MustDo is Do that fails the test unless the status is want.
func (p *EngineProc) MustDo(ctx context.Context, t *testing.T, want int, method, path string, in, out any) string {
	t.Helper()
	st, raw, err := p.Do(ctx, method, path, in, out)
	if err != nil || st != want {
		t.Fatalf("%s %s: status %d (want %d), err %v\n%s", method, path, st, want, err, raw)
	}
	return raw
}

// Agent dials the engine's in-process local agent.
func (p *EngineProc) Agent(ctx context.Context, t *testing.T) *agentrpc.Client {
	t.Helper()
	c, err := agentrpc.Dial(ctx, "unix://"+filepath.Join(p.StateDir, "run", "agent.sock"), nil)
	if err != nil {
		t.Fatalf("dial the local agent: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ConsolePath is the serial console log of a VM on the local host.
func (p *EngineProc) ConsolePath(vmID string) string {
	return filepath.Join(p.StateDir, "agent", "console", vmID+".log")
}

// StorageDir is the local storage domain's directory.
func (p *EngineProc) StorageDir() string { return filepath.Join(p.StateDir, "storage", "local") }

// Log returns the engine's log so far.
func (p *EngineProc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return strings.TrimSpace(string(b))
}
