package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/pki"
	"github.com/govirt/govirt/internal/vmspec"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCert issues a certificate from ca into dir and returns its file names.
func writePair(t *testing.T, dir, name string, cert, key []byte) (string, string) {
	t.Helper()
	c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(c, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestAgentServesOnlyMutualTLSOverTCP(t *testing.T) {
	t.Parallel()
	dir := e2eutil.SharedDir(t)
	ca, err := pki.NewCA("govirt test engine CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, sk, err := ca.IssueServer("agent", []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey := writePair(t, dir, "agent", sc, sk)
	cc, ck, err := ca.IssueClient("engine", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey := writePair(t, dir, "engine", cc, ck)
	creds, err := agentrpc.ClientTLS(cliCert, cliKey, caFile, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{Listen: addr, ServerCert: srvCert, ServerKey: srvKey, CA: caFile, ClientCreds: creds})
	ctx := e2eutil.Context(t, time.Minute)
	info, err := ag.Client.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.HostID != ag.HostID {
		t.Errorf("ping: host id %q, want %q", info.HostID, ag.HostID)
	}

	// A client whose certificate another CA signed is refused.
	other, err := pki.NewCA("someone else", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oc, ok, err := other.IssueClient("intruder", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oCert, oKey := writePair(t, dir, "intruder", oc, ok)
	bad, err := agentrpc.ClientTLS(oCert, oKey, caFile, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentrpc.Dial(ctx, addr, bad)
	if err == nil {
		_, err = c.Ping(ctx)
		c.Close()
	}
	if err == nil {
		t.Fatal("agent accepted a client certificate from a foreign CA")
	}

	// Half the TLS material is refused outright.
	out, err := exec.Command(e2eutil.Binary(t), "agent", "--listen", freePort(t), "--state-dir", filepath.Join(dir, "x"),
		"--tls-cert", srvCert).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "go together") {
		t.Errorf("agent on TCP with only a certificate: err %v, output %s", err, out)
	}
	// Without any, the agent serves no agent API on TCP: it waits to be
	// enrolled (printing its bootstrap secret), and even a client with the
	// engine's valid certificate gets nowhere.
	free := freePort(t)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waiting := exec.CommandContext(lctx, e2eutil.Binary(t), "agent", "--listen", free, "--state-dir", filepath.Join(dir, "y"))
	var buf syncBuffer
	waiting.Stdout, waiting.Stderr = &buf, &buf
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = waiting.Wait() }()
	for !strings.Contains(buf.String(), "bootstrap secret") {
		select {
		case <-ctx.Done():
			t.Fatalf("an agent without certificates printed no bootstrap secret:\n%s", buf.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if c, err := agentrpc.Dial(ctx, free, creds); err == nil {
		c.Close()
		t.Fatal("an agent waiting for enrolment served the agent API over TCP")
	}
}

func TestVolumesStayInsideTheirStorageDomain(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	sd := filepath.Join(e2eutil.SharedDir(t), "sd")
	id := uuid.NewString()
	path, err := ag.Client.CreateVolume(ctx, agent.Volume{DomainDir: sd, VolumeID: id, Format: vmspec.FormatQCOW2, SizeBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(sd, id) {
		t.Errorf("volume at %s, want inside %s", path, sd)
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	if err != nil || !strings.Contains(string(out), `"format": "qcow2"`) || !strings.Contains(string(out), `"virtual-size": 1073741824`) {
		t.Errorf("qemu-img info: %v %s", err, out)
	}
	if _, err := ag.Client.CreateVolume(ctx, agent.Volume{DomainDir: sd, VolumeID: id, Format: vmspec.FormatQCOW2, SizeBytes: 1 << 20}); err == nil {
		t.Errorf("creating an existing volume again succeeded")
	}

	for _, bad := range []agent.Volume{
		{DomainDir: sd, VolumeID: "../escape", Format: vmspec.FormatRaw, SizeBytes: 1 << 20},
		{DomainDir: sd, VolumeID: "a/b", Format: vmspec.FormatRaw, SizeBytes: 1 << 20},
		{DomainDir: "relative/dir", VolumeID: "x", Format: vmspec.FormatRaw, SizeBytes: 1 << 20},
		{DomainDir: sd + "/../other", VolumeID: "x", Format: vmspec.FormatRaw, SizeBytes: 1 << 20},
	} {
		_, err := ag.Client.CreateVolume(ctx, bad)
		if !errors.Is(err, agent.ErrPathEscape) {
			t.Errorf("create %+v: %v, want ErrPathEscape", bad, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(sd), "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a volume escaped its storage domain")
	}

	// A symlink planted in the domain is not followed.
	link := filepath.Join(sd, "planted")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	if err := ag.Client.RemoveVolume(ctx, agent.Volume{DomainDir: sd, VolumeID: "planted"}); !errors.Is(err, agent.ErrPathEscape) {
		t.Errorf("remove through a symlink: %v, want ErrPathEscape", err)
	}
	if err := ag.Client.RemoveVolume(ctx, agent.Volume{DomainDir: sd, VolumeID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume still there after remove: %v", err)
	}
	if err := ag.Client.RemoveVolume(ctx, agent.Volume{DomainDir: sd, VolumeID: id}); err != nil {
		t.Errorf("removing a removed volume must succeed (retries after a crash): %v", err)
	}
}
