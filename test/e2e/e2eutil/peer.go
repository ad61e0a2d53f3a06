package e2eutil

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PeerUser is the unprivileged user whose session libvirtd plays a second
// hypervisor host in the live-migration tests (scripts/host-setup.sh
// creates it and starts its daemon): libvirt refuses to migrate a domain to
// the daemon it runs on.
const PeerUser = "govirtpeer"

// SystemSocket is the system libvirtd's socket.
const SystemSocket = "/var/run/libvirt/libvirt-sock"

// PeerLibvirt is that second libvirtd.
type PeerLibvirt struct {
	// Socket is its unix socket, for `govirt agent --libvirt-socket`.
	Socket string
	// URI reaches it from the system libvirtd (root may open its socket).
	URI string
	// UID and GID are the peer user's: its QEMU runs as them.
	UID, GID int
}

// NeedPeerLibvirt returns the peer libvirtd, failing the test with what is
// missing when host-setup did not prepare it.
func NeedPeerLibvirt(t *testing.T) *PeerLibvirt {
	t.Helper()
	u, err := user.Lookup(PeerUser)
	if err != nil {
		t.Fatalf("live migration needs the user %s and its session libvirtd (run scripts/host-setup.sh): %v", PeerUser, err)
	}
	p := &PeerLibvirt{Socket: filepath.Join(u.HomeDir, ".cache", "libvirt", "libvirt-sock")}
	p.URI = "qemu+unix:///session?socket=" + p.Socket
	p.UID, _ = strconv.Atoi(u.Uid)
	p.GID, _ = strconv.Atoi(u.Gid)
	if out, err := exec.Command("virsh", "-c", p.URI, "version").CombinedOutput(); err != nil {
		t.Fatalf("the session libvirtd of %s does not answer on %s (run scripts/host-setup.sh): %v\n%s", PeerUser, p.URI, err, out)
	}
	// Registered first, so it runs last: a guest of this test that a
	// failure left in the peer libvirtd does not outlive the test.
	prefix := fmt.Sprintf("e2e-%s-%d-", sanitize(t.Name()), os.Getpid())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := p.Virsh(ctx, "list", "--name")
		for _, name := range strings.Fields(out) {
			if strings.HasPrefix(name, prefix) {
				t.Logf("destroying %s, left in the peer libvirtd", name)
				_, _ = p.Virsh(ctx, "destroy", name)
			}
		}
	})
	return p
}

// Virsh runs virsh against the peer libvirtd.
func (p *PeerLibvirt) Virsh(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-c", p.URI}, args...)...).CombinedOutput()
	return string(out), err
}

// SystemRelayURI returns a URI through which the peer libvirtd reaches the
// system libvirtd, for migrations back to the system daemon. The system
// daemon admits an unprivileged client only through polkit, which a
// container has no D-Bus for; on real hosts the peers speak qemu+tls. So
// the test relays a socket the peer user may open to the system socket,
// as root, for the test's lifetime only.
func (p *PeerLibvirt) SystemRelayURI(t *testing.T) string {
	t.Helper()
	dir := SharedDir(t)
	sock := filepath.Join(dir, "system-relay.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sock, p.UID, p.GID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c)
		}
	}()
	return "qemu+unix:///system?socket=" + sock
}

func relay(c net.Conn) {
	defer c.Close()
	s, err := net.DialTimeout("unix", SystemSocket, 10*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// GrantPeer lets the peer's QEMU open path (a VM's volume or console
// directory) and traverse to it from /tmp. Test hosts only: on real hosts
// every host runs QEMU as the same user.
func (p *PeerLibvirt) GrantPeer(t *testing.T, paths ...string) {
	t.Helper()
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o666)
		if fi.IsDir() {
			mode = 0o777 // not sticky: QEMU replaces files there
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		for dir := filepath.Dir(path); dir != "/" && dir != os.TempDir(); dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
