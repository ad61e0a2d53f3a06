package domxml

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

const (
	hostileName    = `evil<name>' & "x" ]]> <devices><disk>`
	hostileCmdline = `console=ttyS0 init="/bin/sh -c 'echo <x/> &amp; ]]>'" </cmdline><kernel>/etc/shadow</kernel>`
	hostileHost    = `host</host><host>other`
)

// hostileVM carries markup in every free-form field it has.
func hostileVM() vmspec.VM {
	vm := directBootVM()
	vm.Name = hostileName
	vm.Boot.Cmdline = hostileCmdline
	return vm
}

// TestHostileStringsRoundTrip proves user-controlled text comes back as
// the same text and cannot add elements: encoding/xml escapes it all.
// (Disk serials and target devs never get here: checkDisk holds them to
// libvirt's own character sets.)
func TestHostileStringsRoundTrip(t *testing.T) {
	vm := hostileVM()
	opts := Options{HostID: hostileHost, ConsolePath: `/var/log/govirt/c'o"n<s>&.log`}
	s, err := Marshal(vm, opts)
	if err != nil {
		t.Fatal(err)
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(s); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, s)
	}
	for _, c := range []struct{ what, got, want string }{
		{"name", dom.Name, hostileName},
		{"cmdline", dom.OS.Cmdline, hostileCmdline},
		{"kernel", dom.OS.Kernel, vm.Boot.Kernel},
		{"console", dom.Devices.Serials[0].Source.File.Path, opts.ConsolePath},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	live, err := ParseLive(s)
	if err != nil {
		t.Fatal(err)
	}
	if live.HostID != hostileHost {
		t.Errorf("host id = %q, want %q", live.HostID, hostileHost)
	}
	if got, want := countElements(t, s), countElements(t, mustMarshal(t, directBootVM(), opts)); !equalCounts(got, want) {
		t.Errorf("hostile strings changed the element structure:\n got %v\nwant %v", got, want)
	}
}

func mustMarshal(t *testing.T, vm vmspec.VM, opts Options) string {
	t.Helper()
	s, err := Marshal(vm, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countElements counts start tags per element name in a document.
func countElements(t *testing.T, doc string) map[string]int {
	t.Helper()
	n := map[string]int{}
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Space+" "+se.Name.Local]++
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
