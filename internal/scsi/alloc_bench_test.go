package scsi

import (
	"testing"
)

// The target is addressing a full VM (16,383 disks) in at most 50 ms; the
// numbers are in docs/ADDRESSING.md.

func benchPlug(b *testing.B, ctrls []uint16) {
	ids := diskIDs("disk-", MaxDisksPerVM)
	b.ReportAllocs()
	for b.Loop() {
		a, err := NewAllocator(DefaultLayout, ctrls, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i, id := range ids {
			if _, err := a.Plug(id, i == 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkPlug16383(b *testing.B)                { benchPlug(b, []uint16{0}) }
func BenchmarkPlug16383FourControllers(b *testing.B) { benchPlug(b, []uint16{0, 1, 2, 3}) }

// BenchmarkNewAllocator16383 is the engine's per-request cost of rebuilding a
// full VM's allocator from its persisted rows.
func BenchmarkNewAllocator16383(b *testing.B) {
	slots := fullVM(b).Slots()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewAllocator(DefaultLayout, []uint16{0, 1, 2, 3}, slots); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplugFull is one unplug and plug in a full VM: the hot-plug path
// once the allocator exists.
func BenchmarkReplugFull(b *testing.B) {
	a := fullVM(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Unplug("disk-08000"); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Plug("disk-08000", false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAssignInOrder16383(b *testing.B) {
	ids := diskIDs("disk-", MaxDisksPerVM)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AssignInOrder(DefaultLayout, []uint16{0}, ids, ids[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func fullVM(b *testing.B) *Allocator {
	b.Helper()
	a := mustNew(b, DefaultLayout, []uint16{0, 1, 2, 3}, nil)
	for i, id := range diskIDs("disk-", MaxDisksPerVM) {
		mustPlug(b, a, id, i == 0)
	}
	return a
}
