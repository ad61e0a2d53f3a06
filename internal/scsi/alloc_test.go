package scsi

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func da(c, t, u uint16) DriveAddress   { return DriveAddress{Controller: c, Target: t, Unit: u} }
func dap(c, t, u uint16) *DriveAddress { a := da(c, t, u); return &a }

func diskIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return ids
}

func mustNew(t testing.TB, l Layout, ctrls []uint16, slots []Slot) *Allocator {
	t.Helper()
	a, err := NewAllocator(l, ctrls, slots)
	if err != nil {
		t.Fatalf("NewAllocator: %v", err)
	}
	checkInternal(t, a)
	return a
}

func mustPlug(t testing.TB, a *Allocator, id string, boot bool) DriveAddress {
	t.Helper()
	addr, err := a.Plug(id, boot)
	if err != nil {
		t.Fatalf("Plug(%q, %v): %v", id, boot, err)
	}
	return addr
}

func wantAddr(t testing.TB, a *Allocator, id string, want DriveAddress) {
	t.Helper()
	if got, ok := a.Address(id); !ok || got != want {
		t.Errorf("Address(%q) = %v, %v; want %v", id, got, ok, want)
	}
}

func TestAssignInOrder(t *testing.T) {
	tests := []struct {
		name   string
		layout Layout
		ctrls  []uint16
		ids    []string
		boot   string
		want   []DriveAddress
	}{
		{"boot first, others from unit 1", DefaultLayout, []uint16{0}, []string{"a", "b", "c"}, "c",
			[]DriveAddress{da(0, 0, 1), da(0, 0, 2), da(0, 0, 0)}},
		{"no boot disk leaves unit 0 free", DefaultLayout, []uint16{0}, []string{"a", "b"}, "",
			[]DriveAddress{da(0, 0, 1), da(0, 0, 2)}},
		{"round robin over 4 controllers", DefaultLayout, []uint16{3, 1, 2, 0},
			[]string{"boot", "a", "b", "c", "d", "e", "f", "g", "h"}, "boot",
			[]DriveAddress{da(0, 0, 0), da(1, 0, 0), da(2, 0, 0), da(3, 0, 0), da(0, 0, 1),
				da(1, 0, 1), da(2, 0, 1), da(3, 0, 1), da(0, 0, 2)}},
		{"reserved slot is on the lowest controller", DefaultLayout, []uint16{5, 2}, []string{"x", "b"}, "b",
			[]DriveAddress{da(5, 0, 0), da(2, 0, 0)}},
		{"small layout moves on to the next target", Layout{UnitsPerTarget: 4}, []uint16{0},
			[]string{"b", "a", "c", "d", "e"}, "b",
			[]DriveAddress{da(0, 0, 0), da(0, 0, 1), da(0, 0, 2), da(0, 0, 3), da(0, 1, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AssignInOrder(tt.layout, tt.ctrls, tt.ids, tt.boot)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AssignInOrder (-want +got):\n%s", diff)
			}
		})
	}
}

// The 65th disk lands on target 1 unit 0 only when the first disk is the boot
// disk: without one, unit 0 of target 0 stays reserved and the 64th disk
// already starts target 1.
func TestDefaultLayoutTargets(t *testing.T) {
	ids := diskIDs("d", 65)
	withBoot, err := AssignInOrder(DefaultLayout, []uint16{0}, ids, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if withBoot[63] != da(0, 0, 63) || withBoot[64] != da(0, 1, 0) {
		t.Errorf("with boot: 64th %v, 65th %v; want {0 0 0 63}, {0 0 1 0}", withBoot[63], withBoot[64])
	}
	noBoot, err := AssignInOrder(DefaultLayout, []uint16{0}, ids, "")
	if err != nil {
		t.Fatal(err)
	}
	if noBoot[62] != da(0, 0, 63) || noBoot[63] != da(0, 1, 0) || noBoot[64] != da(0, 1, 1) {
		t.Errorf("without boot: 63rd %v, 64th %v, 65th %v", noBoot[62], noBoot[63], noBoot[64])
	}
}

func TestReplugKeepsAddress(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, nil)
	for _, id := range []string{"a", "b", "c"} {
		mustPlug(t, a, id, false)
	}
	if err := a.Unplug("b"); err != nil {
		t.Fatal(err)
	}
	wantAddr(t, a, "b", da(0, 0, 2)) // remembered
	if got := mustPlug(t, a, "d", false); got != da(0, 0, 4) {
		t.Errorf("new disk took %v, want {0 0 0 4} (unit 2 is remembered by b)", got)
	}
	// Stop/start: the engine persists Slots and rebuilds.
	a = mustNew(t, DefaultLayout, []uint16{0}, a.Slots())
	if got := mustPlug(t, a, "b", false); got != da(0, 0, 2) {
		t.Errorf("replug of b = %v, want its old {0 0 0 2}", got)
	}
	checkInternal(t, a)
}

func TestTakenMeanwhile(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, []Slot{
		{ID: "b", Addr: dap(0, 0, 1)},                // unplugged: remembers unit 1
		{ID: "x", Addr: dap(0, 0, 1), Plugged: true}, // took it meanwhile
		{ID: "y", Addr: dap(0, 0, 3)},
	})
	if got := mustPlug(t, a, "b", false); got != da(0, 0, 2) {
		t.Errorf("b = %v, want {0 0 0 2}: unit 1 is taken, unit 3 remembered by y", got)
	}
	if got := mustPlug(t, a, "y", false); got != da(0, 0, 3) {
		t.Errorf("y = %v, want its remembered {0 0 0 3}", got)
	}

	// A full layout hands out remembered slots rather than fail.
	l := Layout{UnitsPerTarget: 1} // 256 slots, slot 0 for the boot disk
	a = mustNew(t, l, []uint16{0}, nil)
	for _, id := range diskIDs("d", 255) {
		mustPlug(t, a, id, false)
	}
	if err := a.Unplug("d00000"); err != nil {
		t.Fatal(err)
	}
	if got := mustPlug(t, a, "x", false); got != da(0, 1, 0) {
		t.Errorf("x = %v, want d00000's remembered {0 0 1 0}, the only free slot", got)
	}
	if _, err := a.Plug("d00000", false); !errors.Is(err, ErrTooManyDisks) {
		t.Errorf("replug into a full layout: %v, want ErrTooManyDisks", err)
	}
	if err := a.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if got := mustPlug(t, a, "d00000", false); got != da(0, 1, 0) {
		t.Errorf("d00000 = %v after x left, want {0 0 1 0}", got)
	}
	checkInternal(t, a)
}

func TestBootSlot(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, []Slot{{ID: "old", Addr: dap(0, 0, 0)}})
	mustPlug(t, a, "a", false)
	if got := mustPlug(t, a, "boot", true); got != da(0, 0, 0) {
		t.Errorf("boot disk = %v, want {0 0 0 0} (remembered slots do not reserve)", got)
	}
	if got := mustPlug(t, a, "boot2", true); got != da(0, 0, 2) {
		t.Errorf("second boot disk = %v, want the next slot {0 0 0 2}", got)
	}
	if err := a.Unplug("boot"); err != nil {
		t.Fatal(err)
	}
	// A non-boot disk remembering unit 0 gets it back: its address wins.
	if got := mustPlug(t, a, "old", false); got != da(0, 0, 0) {
		t.Errorf("old = %v, want its remembered {0 0 0 0}", got)
	}
}

func TestRemove(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, nil)
	mustPlug(t, a, "a", false)
	mustPlug(t, a, "b", false)
	if err := a.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unplug("b"); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Address("a"); ok {
		t.Error("removed device still has an address")
	}
	if got := mustPlug(t, a, "c", false); got != da(0, 0, 1) {
		t.Errorf("c = %v, want the freed {0 0 0 1}", got)
	}
	if got := mustPlug(t, a, "a", false); got != da(0, 0, 2) {
		t.Errorf("re-attached a = %v, want {0 0 0 2} (a new device)", got)
	}
	checkInternal(t, a)
}

func TestPluggedOn(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0, 2}, []Slot{
		{ID: "p", Addr: dap(2, 0, 5), Plugged: true},
		{ID: "u", Addr: dap(2, 0, 6)},                    // unplugged: remembered, not carried
		{ID: "out", Addr: dap(0, 0, 300), Plugged: true}, // outside the layout, still carried
	})
	steps := []struct {
		op         func() error
		c0, c1, c2 int
	}{
		{func() error { return nil }, 1, 0, 1},
		{func() error { _, err := a.Plug("x", false); return err }, 2, 0, 1}, // tie: the lowest controller
		{func() error { _, err := a.Plug("y", false); return err }, 2, 0, 2},
		{func() error { _, err := a.Plug("u", false); return err }, 2, 0, 3},
		{func() error { return a.Unplug("p") }, 2, 0, 2},
		{func() error { return a.Remove("x") }, 1, 0, 2},
	}
	for i, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := []int{a.PluggedOn(0), a.PluggedOn(1), a.PluggedOn(2)}
		if want := []int{st.c0, st.c1, st.c2}; !slices.Equal(got, want) {
			t.Errorf("step %d: PluggedOn(0, 1, 2) = %v, want %v", i, got, want)
		}
	}
	checkInternal(t, a)
}

func TestSetControllersRemove(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0, 1, 2, 3}, nil)
	mustPlug(t, a, "boot", true) // c0 u0
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		mustPlug(t, a, id, false) // a c1u0, b c2u0, c c3u0, d c0u1, e c1u1, f c2u1, g c3u1
	}
	for _, id := range []string{"d", "g"} {
		if err := a.Unplug(id); err != nil {
			t.Fatal(err)
		}
	}
	moved, err := a.SetControllers([]uint16{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Moved in address order (b c2u0, f c2u1, c c3u0) to the emptiest
	// controller, skipping d's remembered c0u1.
	want := map[string]DriveAddress{"b": da(0, 0, 2), "f": da(0, 0, 3), "c": da(1, 0, 2)}
	if diff := cmp.Diff(want, moved); diff != "" {
		t.Errorf("moved (-want +got):\n%s", diff)
	}
	wantAddr(t, a, "boot", da(0, 0, 0))
	wantAddr(t, a, "a", da(1, 0, 0))
	wantAddr(t, a, "e", da(1, 0, 1))
	wantAddr(t, a, "d", da(0, 0, 1))
	if _, ok := a.Address("g"); ok {
		t.Error("g still remembers an address on removed controller 3")
	}
	checkInternal(t, a)

	// The boot disk follows the reserved slot to the new lowest controller.
	a = mustNew(t, DefaultLayout, []uint16{0, 1}, []Slot{{ID: "boot", Addr: dap(0, 0, 0), Plugged: true, Boot: true}})
	if moved, err := a.SetControllers([]uint16{1}); err != nil || moved["boot"] != da(1, 0, 0) {
		t.Errorf("SetControllers([1]) = %v, %v; want boot at {1 0 0 0}", moved, err)
	}
}

func TestSetControllersAdd(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, nil)
	mustPlug(t, a, "boot", true)
	mustPlug(t, a, "a", false)
	before := a.Slots()
	moved, err := a.SetControllers([]uint16{0, 1, 2})
	if err != nil || len(moved) != 0 {
		t.Fatalf("SetControllers = %v, %v; want nothing moved", moved, err)
	}
	if diff := cmp.Diff(before, a.Slots()); diff != "" {
		t.Errorf("addresses changed (-before +after):\n%s", diff)
	}
	for _, w := range []struct {
		id   string
		want DriveAddress
	}{{"b", da(1, 0, 0)}, {"c", da(2, 0, 0)}, {"d", da(1, 0, 1)}, {"e", da(2, 0, 1)}, {"f", da(0, 0, 2)}} {
		if got := mustPlug(t, a, w.id, false); got != w.want {
			t.Errorf("%s = %v, want %v", w.id, got, w.want)
		}
	}
}

func TestSetControllersNone(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, []Slot{{ID: "a", Addr: dap(0, 0, 1), Plugged: true}, {ID: "b", Addr: dap(0, 0, 2)}})
	before := a.Slots()
	if _, err := a.SetControllers(nil); !errors.Is(err, ErrNoController) {
		t.Errorf("disabling with a plugged disk: %v, want ErrNoController", err)
	}
	if _, err := a.SetControllers([]uint16{1, 1}); !errors.Is(err, ErrBadInput) {
		t.Errorf("duplicate controllers: %v, want ErrBadInput", err)
	}
	if diff := cmp.Diff(before, a.Slots()); diff != "" {
		t.Errorf("failed SetControllers changed state (-before +after):\n%s", diff)
	}
	if err := a.Unplug("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetControllers(nil); err != nil {
		t.Fatalf("disabling with nothing plugged: %v", err)
	}
	if _, ok := a.Address("a"); ok {
		t.Error("unplugged disk kept an address on a removed controller")
	}
	if _, err := a.Plug("a", false); !errors.Is(err, ErrNoController) {
		t.Errorf("Plug without controllers: %v, want ErrNoController", err)
	}
}

func TestLimits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ctrls []uint16
		boot  bool
		last  DriveAddress
	}{
		{"one controller", []uint16{0}, false, da(0, 255, 63)},
		{"one controller with boot", []uint16{0}, true, da(0, 255, 62)},
		{"four controllers", []uint16{0, 1, 2, 3}, true, da(2, 63, 63)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, DefaultLayout, tt.ctrls, nil)
			var addr DriveAddress
			for i, id := range diskIDs("d", MaxDisksPerVM) {
				addr = mustPlug(t, a, id, tt.boot && i == 0)
				if addr.Unit >= 64 || addr.Validate() != nil {
					t.Fatalf("%s at %v", id, addr)
				}
			}
			if addr != tt.last {
				t.Errorf("disk 16,383 at %v, want %v", addr, tt.last)
			}
			if _, err := a.Plug("one-too-many", false); !errors.Is(err, ErrTooManyDisks) {
				t.Errorf("disk 16,384: %v, want ErrTooManyDisks", err)
			}
			checkInternal(t, a)
			if _, err := NewAllocator(DefaultLayout, tt.ctrls, append(a.Slots(), Slot{ID: "x", Plugged: true})); !errors.Is(err, ErrTooManyDisks) {
				t.Errorf("NewAllocator with 16,384 plugged: %v, want ErrTooManyDisks", err)
			}
		})
	}
	// A small layout fills up before the VM limit; the boot slot stays free.
	a := mustNew(t, Layout{UnitsPerTarget: 1}, []uint16{0, 1}, nil)
	for _, id := range diskIDs("d", 511) {
		mustPlug(t, a, id, false)
	}
	if _, err := a.Plug("x", false); !errors.Is(err, ErrTooManyDisks) {
		t.Errorf("full layout: %v, want ErrTooManyDisks", err)
	}
	if got := mustPlug(t, a, "boot", true); got != da(0, 0, 0) {
		t.Errorf("boot disk in a full layout = %v, want {0 0 0 0}", got)
	}
}

func TestNewAllocatorLoads(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, []Slot{
		{ID: "ovirt", Addr: dap(0, 0, 300), Plugged: true}, // outside the layout: kept
		{ID: "late", Plugged: true},
		{ID: "boot", Plugged: true, Boot: true},
		{ID: "p", Addr: dap(0, 0, 1), Plugged: true},
		{ID: "u1", Addr: dap(0, 0, 1)},   // shares with a plugged device
		{ID: "u2", Addr: dap(0, 0, 1)},   // and with another unplugged one
		{ID: "gone", Addr: dap(7, 0, 1)}, // on a controller the VM lost
	})
	want := []Slot{
		{ID: "boot", Addr: dap(0, 0, 0), Plugged: true, Boot: true},
		{ID: "p", Addr: dap(0, 0, 1), Plugged: true},
		{ID: "u1", Addr: dap(0, 0, 1)},
		{ID: "u2", Addr: dap(0, 0, 1)},
		{ID: "late", Addr: dap(0, 0, 2), Plugged: true},
		{ID: "ovirt", Addr: dap(0, 0, 300), Plugged: true},
		{ID: "gone"},
	}
	if diff := cmp.Diff(want, a.Slots()); diff != "" {
		t.Errorf("Slots (-want +got):\n%s", diff)
	}
	if _, err := a.Plug("u1", false); err != nil {
		t.Fatal(err)
	}
	if err := a.Unplug("ovirt"); err != nil {
		t.Fatal(err)
	}
	if got := mustPlug(t, a, "ovirt", false); got != da(0, 0, 300) {
		t.Errorf("replug outside the layout = %v, want {0 0 0 300}", got)
	}
	checkInternal(t, a)
}

func TestNewAllocatorErrors(t *testing.T) {
	plugged := func(id string, a *DriveAddress) Slot { return Slot{ID: id, Addr: a, Plugged: true} }
	tests := []struct {
		name   string
		layout Layout
		ctrls  []uint16
		slots  []Slot
		want   error
	}{
		{"zero units per target", Layout{}, []uint16{0}, nil, ErrBadInput},
		{"too many units per target", Layout{UnitsPerTarget: MaxUnit + 2}, []uint16{0}, nil, ErrBadInput},
		{"duplicate controller", DefaultLayout, []uint16{0, 1, 0}, nil, ErrBadInput},
		{"empty id", DefaultLayout, []uint16{0}, []Slot{{ID: ""}}, ErrBadInput},
		{"duplicate id", DefaultLayout, []uint16{0}, []Slot{{ID: "a"}, {ID: "a"}}, ErrBadInput},
		{"duplicate plugged address", DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(0, 0, 1)), plugged("b", dap(0, 0, 1))}, ErrAddressConflict},
		{"duplicate outside the layout", DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(0, 0, 999)), plugged("b", dap(0, 0, 999))}, ErrAddressConflict},
		{"bus 1", DefaultLayout, []uint16{0}, []Slot{plugged("a", &DriveAddress{Bus: 1})}, ErrBadAddress},
		{"target 256", DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(0, 256, 0))}, ErrBadAddress},
		{"unit 16384", DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(0, 0, 16384))}, ErrBadAddress},
		{"unplugged but invalid", DefaultLayout, []uint16{0}, []Slot{{ID: "a", Addr: dap(0, 300, 0)}}, ErrBadAddress},
		{"missing controller", DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(1, 0, 0))}, ErrBadAddress},
		{"plugged without controllers", DefaultLayout, nil, []Slot{plugged("a", nil)}, ErrNoController},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAllocator(tt.layout, tt.ctrls, tt.slots); !errors.Is(err, tt.want) {
				t.Errorf("NewAllocator: %v, want %v", err, tt.want)
			}
		})
	}
	_, err := NewAllocator(DefaultLayout, []uint16{0}, []Slot{plugged("a", dap(0, 0, 1)), plugged("b", dap(0, 0, 1))})
	if err == nil || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("conflict error %q should name both devices", err)
	}
}

func TestOperationErrors(t *testing.T) {
	a := mustNew(t, DefaultLayout, []uint16{0}, []Slot{{ID: "p", Addr: dap(0, 0, 1), Plugged: true}, {ID: "u"}})
	none := mustNew(t, DefaultLayout, nil, nil)
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"plug empty id", func() error { _, err := a.Plug("", false); return err }(), ErrBadInput},
		{"plug plugged", func() error { _, err := a.Plug("p", false); return err }(), ErrAlreadyPlugged},
		{"plug without controller", func() error { _, err := none.Plug("x", true); return err }(), ErrNoController},
		{"unplug unknown", a.Unplug("nope"), ErrUnknownDevice},
		{"unplug unplugged", a.Unplug("u"), ErrNotPlugged},
		{"remove unknown", a.Remove("nope"), ErrUnknownDevice},
		{"boot not among ids", func() error { _, err := AssignInOrder(DefaultLayout, []uint16{0}, []string{"a"}, "b"); return err }(), ErrUnknownDevice},
		{"duplicate ids", func() error { _, err := AssignInOrder(DefaultLayout, []uint16{0}, []string{"a", "a"}, ""); return err }(), ErrAlreadyPlugged},
		{"bad layout", func() error { _, err := AssignInOrder(Layout{}, []uint16{0}, nil, ""); return err }(), ErrBadInput},
		{"no controllers", func() error { _, err := AssignInOrder(DefaultLayout, nil, []string{"a"}, ""); return err }(), ErrNoController},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if got, ok := a.Address("p"); !ok || got != da(0, 0, 1) {
		t.Errorf("failed operations changed p: %v, %v", got, ok)
	}
	checkInternal(t, a)
}

// TestNoIOImports keeps the package pure: the engine and the agent share it,
// and it is tested without any I/O.
func TestNoIOImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	denied := []string{"os", "io", "net", "database", "syscall", "log"}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			root, _, _ := strings.Cut(path, "/")
			if strings.Contains(root, ".") {
				t.Errorf("%s imports %s: internal/scsi takes no third-party dependencies", name, path)
			}
			for _, d := range denied {
				if path == d || root == d {
					t.Errorf("%s imports %s: internal/scsi must not do I/O", name, path)
				}
			}
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Slot
		want error
	}{
		{"plugged without address", Slot{ID: "x", Plugged: true}, ErrBadInput},
		{"empty id", Slot{Addr: dap(0, 0, 3)}, ErrBadInput},
		{"twice", Slot{ID: "a", Addr: dap(0, 0, 5)}, ErrBadInput},
		{"taken address", Slot{ID: "y", Addr: dap(0, 0, 1), Plugged: true}, ErrAddressConflict},
		{"missing controller", Slot{ID: "y", Addr: dap(7, 0, 1), Plugged: true}, ErrBadAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAllocator(DefaultLayout, []uint16{0}, []Slot{{ID: "a", Addr: dap(0, 0, 1), Plugged: true}})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Load(tc.s); !errors.Is(err, tc.want) {
				t.Errorf("Load(%+v) = %v, want %v", tc.s, err, tc.want)
			}
		})
	}
}

// TestForkIsolated: changing a fork, or forking often enough that it
// merges its changes into a new base, leaves the original as it was.
func TestForkIsolated(t *testing.T) {
	a, err := NewAllocator(DefaultLayout, []uint16{0, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := a.Plug(fmt.Sprint("d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	orig := a.Slots()
	b := a
	for i := range 150 {
		b = b.Fork()
		id := fmt.Sprint("d", i)
		if err := b.Unplug(id); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(fmt.Sprint("d", 299-i)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Plug(fmt.Sprint("n", i), false); err != nil {
			t.Fatal(err)
		}
		checkInternal(t, b)
	}
	if got := a.Slots(); !slices.EqualFunc(got, orig, sameSlot) {
		t.Errorf("the original allocator changed under its forks")
	}
	checkInternal(t, a)
	if got, want := len(b.Slots()), 300; got != want {
		t.Errorf("fork has %d devices, want %d", got, want)
	}
}
