package osinfo

import (
	"testing"

	"github.com/govirt/govirt/internal/model"
)

func TestVirtIOSCSISupport(t *testing.T) {
	for _, tt := range []struct {
		os   string
		want bool
	}{
		{"windows_xp", false}, {"rhel_3", false}, {"rhel_3x64", false}, {"rhel_5x64", false},
		{"rhel_6x64", true}, {"rhel_9x64", true}, {"debian", true}, {"ubuntu", true}, {"other", true},
		{"windows_2008", true}, {"windows_2012x64", true}, {"windows_7", true}, {"windows_8", true},
	} {
		o, ok := Lookup(tt.os)
		if !ok {
			t.Fatalf("%s missing from the table", tt.os)
		}
		if o.VirtIOSCSI() != tt.want {
			t.Errorf("%s: VirtIOSCSI() = %v, want %v", tt.os, o.VirtIOSCSI(), tt.want)
		}
	}
}

func TestTableIsConsistent(t *testing.T) {
	ids, names := map[int]bool{}, map[string]bool{}
	for _, o := range All() {
		if ids[o.ID] || names[o.Name] {
			t.Errorf("duplicate os %d %s", o.ID, o.Name)
		}
		ids[o.ID], names[o.Name] = true, true
		for _, h := range o.HotPlug {
			if !o.Supports(h) {
				t.Errorf("%s hot-plugs %s without supporting it", o.Name, h)
			}
			if h == model.InterfaceIDE || h == model.InterfaceSATA {
				t.Errorf("%s claims to hot-plug %s", o.Name, h)
			}
		}
	}
	if _, ok := Lookup(Default); !ok {
		t.Errorf("default os %q missing", Default)
	}
}
