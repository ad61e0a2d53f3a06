package scsi

import (
	"iter"
	"maps"
	"slices"
)

// devTable is the allocator's devices by id, built so that Fork costs far
// less than the devices: base is shared read only between an allocator and
// its forks, and each keeps the entries it changed since in over (a nil
// entry is a device removed). A fork merges over into a new base once over
// outgrows the square root of base, so a chain of forks, one per engine
// command, costs O(√n) per fork and amortized O(√n) for the merges.
type devTable struct {
	base map[string]allocDev
	over map[string]*allocDev
}

func newDevTable(n int) devTable {
	return devTable{over: make(map[string]*allocDev, n)}
}

// get returns id's device.
func (t *devTable) get(id string) (allocDev, bool) {
	if d, ok := t.over[id]; ok {
		if d == nil {
			return allocDev{}, false
		}
		return *d, true
	}
	d, ok := t.base[id]
	return d, ok
}

// mut returns id's device to change in place, nil when there is none.
func (t *devTable) mut(id string) *allocDev {
	if d, ok := t.over[id]; ok {
		return d
	}
	d, ok := t.base[id]
	if !ok {
		return nil
	}
	p := new(allocDev) // not &d: d would then live on the heap on every call
	*p = d
	t.over[id] = p
	return p
}

// put adds d as id, which is not in t.
func (t *devTable) put(id string, d *allocDev) { t.over[id] = d }

// del removes id.
func (t *devTable) del(id string) {
	if _, ok := t.base[id]; ok {
		t.over[id] = nil
		return
	}
	delete(t.over, id)
}

// all yields every device, in no particular order.
func (t *devTable) all() iter.Seq2[string, allocDev] {
	return func(yield func(string, allocDev) bool) {
		for id, d := range t.over {
			if d != nil && !yield(id, *d) {
				return
			}
		}
		for id, d := range t.base {
			if _, changed := t.over[id]; !changed && !yield(id, d) {
				return
			}
		}
	}
}

// fork returns a table with t's devices that shares nothing t may change.
func (t *devTable) fork() devTable {
	if n := len(t.over); n > 64 && n*n > len(t.base) {
		base := make(map[string]allocDev, len(t.base)+n)
		for id, d := range t.all() {
			base[id] = d
		}
		return devTable{base: base, over: map[string]*allocDev{}}
	}
	over := make(map[string]*allocDev, len(t.over)+1)
	for id, d := range t.over {
		if d != nil {
			c := *d
			d = &c
		}
		over[id] = d
	}
	return devTable{base: t.base, over: over}
}

// Fork returns a copy of a to change independently, in about O(√n) for n
// devices rather than O(n): the engine keeps one allocator with each VM's
// cached rows and forks it for every command instead of rebuilding it
// from every device row. a must not change afterwards (a fork shares part
// of its state); fork it again to change it.
func (a *Allocator) Fork() *Allocator {
	b := &Allocator{
		layout:  a.layout,
		byIndex: make(map[uint16]*allocCtrl, len(a.ctrls)),
		devs:    a.devs.fork(),
		outside: maps.Clone(a.outside),
		kept:    maps.Clone(a.kept),
		plugged: a.plugged,
	}
	for _, c := range a.ctrls {
		cc := *c
		cc.used, cc.kept = slices.Clone(c.used), slices.Clone(c.kept)
		b.ctrls = append(b.ctrls, &cc)
		b.byIndex[cc.index] = &cc
	}
	return b
}

// Load adds one persisted slot to a, as NewAllocator does for each of its
// slots, so that a kept allocator can follow a change of one device row
// (Remove, then Load) instead of being rebuilt. A plugged slot without an
// address is refused with ErrBadInput: NewAllocator addresses those after
// all others, which one slot at a time cannot match. After an error a is
// unusable: build it again with NewAllocator.
func (a *Allocator) Load(s Slot) error {
	if s.Plugged && s.Addr == nil {
		return errNeedsAddress
	}
	if err := a.load(s, &allocDev{}); err != nil {
		return err
	}
	if a.plugged > MaxDisksPerVM {
		return ErrTooManyDisks
	}
	return nil
}
