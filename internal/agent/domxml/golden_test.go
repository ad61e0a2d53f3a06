package domxml

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"libvirt.org/go/libvirtxml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.xml golden files from Marshal's output")

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Marshal(tc.vm, tc.opts)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got += "\n"
			path := filepath.Join("testdata", tc.name+".xml")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs (-want +got), run go test -update if intended:\n%s", path, diff)
			}
		})
	}
}

// TestGoldenRoundTrip proves the golden text decodes to the very domain
// Build returns: nothing is lost or invented by the encoding.
func TestGoldenRoundTrip(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Build(tc.vm, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(filepath.Join("testdata", tc.name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			var got libvirtxml.Domain
			if err := got.Unmarshal(string(text)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, &got, ignoreXMLNames); diff != "" {
				t.Errorf("decoded golden differs from Build (-build +decoded):\n%s", diff)
			}
		})
	}
}

// TestVirtioBlkHasNoOptionalPCIDevices pins what the engine's slot count
// relies on: with every optional device off, the domain asks libvirt for
// no balloon, no USB controller, no video and no virtio-serial.
func TestVirtioBlkHasNoOptionalPCIDevices(t *testing.T) {
	s, err := Marshal(virtioBlkVM(28), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<memballoon model="none">`, `<controller type="usb" index="0" model="none">`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, bad := range []string{"<video", "<channel", "<graphics", `type="scsi"`, "<serial type=", "<metadata"} {
		if strings.Contains(s, bad) {
			t.Errorf("unexpected %s", bad)
		}
	}
}
