package libvirtconn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent/domxml"
)

func TestDomainOfStatus(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n\n<domstatus state='running'>\n  <domain type='qemu' id='1'>\n    <name>a</name>\n  </domain>\n  <privateData/>\n</domstatus>\n",
			"<domain type='qemu' id='1'>\n    <name>a</name>\n  </domain>", true},
		{"<domain type='qemu'><name>a</name></domain>", "", false}, // a definition, not a status file
		{"<domstatus state='running'></domstatus>", "", false},
		{"", "", false},
	} {
		got, err := domainOfStatus([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("domainOfStatus(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestStatusFileDescribesTheLiveDomain: for a domain whose XML libvirt's
// RPC refuses (past about 7,800 disks), the agent reads libvirtd's status
// file; what it finds there must be what virDomainGetXMLDesc gives for the
// same running domain. Needs libvirtd (scripts/host-setup.sh), as root.
func TestStatusFileDescribesTheLiveDomain(t *testing.T) {
	ctx := context.Background()
	c, err := Dial(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("libvirtd is required: %v", err)
	}
	defer c.Close()
	dir, err := os.MkdirTemp("", "govirt-statusfile-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // QEMU runs as libvirt-qemu
		t.Fatal(err)
	}
	var disks string
	for i := range 3 {
		img := filepath.Join(dir, fmt.Sprintf("d%d.qcow2", i))
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", img, "1M").CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v: %s", err, out)
		}
		disks += fmt.Sprintf(`<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><backingStore/>
			<target dev='sd%c' bus='scsi'/><serial>disk-%d</serial><alias name='ua-disk-%d'/>
			<address type='drive' controller='0' bus='0' target='%d' unit='%d'/></disk>`, img, 'a'+i, i, i, i/2, i%2)
	}
	id := uuid.NewString()
	name := "govirt-statusfile-" + id[:8]
	x := fmt.Sprintf(`<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
		<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
		<controller type='scsi' index='0' model='virtio-scsi'><alias name='ua-scsi0'/></controller>%s
		<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sdz' bus='scsi'/><readonly/>
			<address type='drive' controller='0' bus='0' target='5' unit='0'/></disk>
		</devices></domain>`, name, id, disks)
	if err := c.CreateDomain(ctx, x, true); err != nil {
		t.Fatalf("create a paused domain: %v", err)
	}
	defer func() { _ = c.Destroy(ctx, id) }()

	rpc, err := c.DomainXML(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	file, err := c.statusFileXML(name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := domxml.ParseLive(rpc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := domxml.ParseLive(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Devices) != 5 {
		t.Fatalf("libvirt shows %d devices, want the 4 disks and the controller created", len(want.Devices))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the status file describes the domain otherwise than libvirt's RPC (-rpc +file):\n%s", diff)
	}
	if _, err := c.statusFileXML("no-such-domain-" + id[:8]); err == nil {
		t.Error("the status file of a domain that does not run: no error")
	}
}
