package domxml

// These tests hand the rendered XML to the real libvirtd, which checks it
// against its RelaxNG schema (VIR_DOMAIN_DEFINE_VALIDATE) and its own
// parser. They define and undefine only: nothing is started, so the disk
// files and iSCSI targets the domains name need not exist. A missing
// libvirtd is a failure, not a skip: see scripts/host-setup.sh.

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

func connectLibvirt(t *testing.T) *libvirt.Libvirt {
	t.Helper()
	path := os.Getenv("GOVIRT_LIBVIRT_SOCKET")
	if path == "" {
		path = "/var/run/libvirt/libvirt-sock"
	}
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(path), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.QEMUSystem); err != nil {
		t.Fatalf("libvirtd is required but not reachable at %s (start it with scripts/host-setup.sh, or point GOVIRT_LIBVIRT_SOCKET at its socket): %v", path, err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// unique gives a run-unique UUID and name suffix, so parallel or aborted
// runs never collide with each other or with anyone's real domains.
func unique(t *testing.T) (uuid, suffix string) {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	uuid = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return uuid, fmt.Sprintf("%d-%x", os.Getpid(), b[10:14])
}

// define defines doc with schema validation and undefines it when the test
// ends.
func define(t *testing.T, l *libvirt.Libvirt, doc string) (libvirt.Domain, error) {
	t.Helper()
	dom, err := l.DomainDefineXMLFlags(doc, libvirt.DomainDefineValidate)
	if err != nil {
		return dom, err
	}
	t.Cleanup(func() {
		if err := l.DomainUndefineFlags(dom, 0); err != nil {
			t.Errorf("undefine %s: %v", dom.Name, err)
		}
	})
	return dom, nil
}

func renamed(t *testing.T, vm vmspec.VM, prefix string) vmspec.VM {
	uuid, suffix := unique(t)
	vm.ID = uuid
	vm.Name = prefix + "-" + suffix
	return vm
}

func TestLibvirtAcceptsGoldenDomains(t *testing.T) {
	l := connectLibvirt(t)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			vm := renamed(t, tc.vm, "domxml-test-"+tc.name)
			dom, err := define(t, l, mustMarshal(t, vm, tc.opts))
			if err != nil {
				t.Fatalf("libvirt refused the domain: %v", err)
			}
			checkDefined(t, l, dom, vm, tc.opts)
		})
	}
}

// checkDefined reads the defined domain back the way the agent will.
func checkDefined(t *testing.T, l *libvirt.Libvirt, dom libvirt.Domain, vm vmspec.VM, opts Options) {
	t.Helper()
	doc, err := l.DomainGetXMLDesc(dom, libvirt.DomainXMLInactive)
	if err != nil {
		t.Fatal(err)
	}
	live, err := ParseLive(doc)
	if err != nil {
		t.Fatal(err)
	}
	if live.Name != vm.Name || live.UUID != vm.ID || live.HostID != opts.HostID {
		t.Errorf("read back name %q uuid %s host %q; want %q %s %q", live.Name, live.UUID, live.HostID, vm.Name, vm.ID, opts.HostID)
	}
	aliases := map[string]bool{}
	for _, d := range live.Devices {
		aliases[d.Alias] = true
	}
	for _, d := range vm.Disks {
		if !aliases[d.Alias()] {
			t.Errorf("libvirt dropped alias %s", d.Alias())
		}
	}
	checkSingleLayer(t, doc)
	if opts.HostID == "" {
		return
	}
	md, err := l.DomainGetMetadata(dom, int32(libvirt.DomainMetadataElement), libvirt.OptString{MetadataNS}, libvirt.DomainAffectConfig)
	if err != nil {
		t.Fatalf("get metadata: %v", err)
	}
	if host, err := HostIDFromMetadata(md); err != nil || host != opts.HostID {
		t.Errorf("HostIDFromMetadata(%q) = %q, %v; want %q", md, host, err, opts.HostID)
	}
}

// checkSingleLayer: libvirt took every image's empty <backingStore/> as
// the end of its chain (it keeps the element and probes nothing at start).
func checkSingleLayer(t *testing.T, doc string) {
	t.Helper()
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	for _, d := range dom.Devices.Disks {
		if d.Source == nil || d.Source.File == nil || d.Source.File.File == "" {
			continue
		}
		if b := d.BackingStore; b == nil || b.Source == nil || b.Source.File != nil || b.Index != 0 {
			t.Errorf("disk %s: libvirt has backing store %+v, want the empty end of chain", d.Source.File.File, b)
		}
	}
}

func TestLibvirtKeepsHostileStrings(t *testing.T) {
	l := connectLibvirt(t)
	vm := renamed(t, hostileVM(), "") // keep the markup, make it unique
	vm.Name = hostileName + vm.Name
	opts := Options{HostID: hostileHost, ConsolePath: "/var/log/govirt/console/c'<&>.log"}
	dom, err := define(t, l, mustMarshal(t, vm, opts))
	if err != nil {
		t.Fatalf("libvirt refused the domain: %v", err)
	}
	checkDefined(t, l, dom, vm, opts)
}

// TestLibvirtAcceptsHotplugXML puts DiskXML and ControllerXML output in a
// domain with no disks of its own, as a stand-in for attaching them.
func TestLibvirtAcceptsHotplugXML(t *testing.T) {
	l := connectLibvirt(t)
	src := lunVM()
	vm := renamed(t, src, "domxml-test-hotplug")
	vm.Controllers, vm.Disks = nil, nil
	var frags []string
	for _, c := range src.Controllers {
		s, err := ControllerXML(c)
		if err != nil {
			t.Fatal(err)
		}
		frags = append(frags, s)
	}
	for _, d := range src.Disks {
		s, err := DiskXML(d, testOpts)
		if err != nil {
			t.Fatal(err)
		}
		frags = append(frags, s)
	}
	doc := strings.Replace(mustMarshal(t, vm, testOpts), "</devices>", strings.Join(frags, "\n")+"</devices>", 1)
	dom, err := define(t, l, doc)
	if err != nil {
		t.Fatalf("libvirt refused the hot-plug fragments: %v\n%s", err, doc)
	}
	vm.Disks = src.Disks
	checkDefined(t, l, dom, vm, testOpts)
}

// TestLibvirtRefuses pins libvirt 9.0 behaviour the renderer relies on.
func TestLibvirtRefuses(t *testing.T) {
	l := connectLibvirt(t)
	for _, tc := range []struct {
		name  string
		patch func(doc string) string // on lunVM's XML
		err   string
	}{
		{"unfiltered sgio (why the renderer refuses it)",
			func(doc string) string { return strings.Replace(doc, `sgio="filtered"`, `sgio="unfiltered"`, 1) },
			"unfiltered sgio is no longer supported"},
		{"reservations on a network source (why the renderer leaves them out)",
			func(doc string) string {
				return strings.Replace(doc, `port="3260"></host>`, `port="3260"></host><reservations managed="yes"></reservations>`, 1)
			}, "failed to validate against schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.patch(mustMarshal(t, renamed(t, lunVM(), "domxml-test-refused"), testOpts))
			if !strings.Contains(doc, "unfiltered") && !strings.Contains(doc, "<reservations") {
				t.Fatal("patch did not apply")
			}
			_, err := define(t, l, doc)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("define: %v; want an error containing %q", err, tc.err)
			}
		})
	}
}
