package scsi

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// allocFataler is what checkInternal needs from *testing.T and *rapid.T.
type allocFataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkInternal recomputes the allocator's bookkeeping from its devices and
// checks the cursors, so that the incremental updates cannot drift.
func checkInternal(t allocFataler, a *Allocator) {
	t.Helper()
	plugged, counts := 0, map[uint16]int{}
	used, kept := map[uint16]allocBits{}, map[uint16]allocBits{}
	keptN, outside := map[DriveAddress]int{}, map[DriveAddress]string{}
	for id, d := range a.devs.all() {
		if !d.hasAddr {
			if d.plugged {
				t.Fatalf("plugged device %q has no address", id)
			}
			continue
		}
		if a.byIndex[d.addr.Controller] == nil {
			t.Fatalf("device %q at %v on a missing controller", id, d.addr)
		}
		i, in := a.layout.index(d.addr)
		switch {
		case d.plugged && in:
			b := used[d.addr.Controller]
			b.set(i)
			used[d.addr.Controller] = b
		case d.plugged:
			outside[d.addr] = id
		case in:
			keptN[d.addr]++
			b := kept[d.addr.Controller]
			b.set(i)
			kept[d.addr.Controller] = b
		}
		if d.plugged {
			plugged++
			counts[d.addr.Controller]++
		}
	}
	trim := func(b allocBits) allocBits {
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		if len(b) == 0 {
			return nil
		}
		return b
	}
	if plugged != a.plugged || !cmp.Equal(outside, a.outside) || !cmp.Equal(keptN, a.kept) {
		t.Fatalf("bookkeeping drifted: plugged %d/%d outside %v/%v kept %v/%v", plugged, a.plugged, outside, a.outside, keptN, a.kept)
	}
	for k, c := range a.ctrls {
		if k > 0 && a.ctrls[k-1].index >= c.index || a.byIndex[c.index] != c {
			t.Fatalf("controllers out of order: %v", a.ctrls)
		}
		if c.plugged != counts[c.index] || !cmp.Equal(trim(c.used), trim(used[c.index])) || !cmp.Equal(trim(c.kept), trim(kept[c.index])) {
			t.Fatalf("controller %d drifted: count %d/%d", c.index, c.plugged, counts[c.index])
		}
		lo := 0
		if k == 0 {
			lo = 1
		}
		for i := lo; i < c.fresh; i++ {
			if !c.used.get(i) && !c.kept.get(i) {
				t.Fatalf("controller %d: fresh cursor %d passes free slot %d", c.index, c.fresh, i)
			}
		}
		for i := lo; i < c.free; i++ {
			if !c.used.get(i) {
				t.Fatalf("controller %d: free cursor %d passes free slot %d", c.index, c.free, i)
			}
		}
	}
}

// refAlloc is a deliberately naive model of the allocator's rules: it keeps
// only the device table and recomputes everything by scanning, so the bitmaps
// and cursors of the real Allocator are checked against something obviously
// right.
type refAlloc struct {
	units uint16   // UnitsPerTarget
	ctrls []uint16 // ascending
	devs  map[string]*refDev
}

type refDev struct {
	addr    *DriveAddress
	plugged bool
	boot    bool
}

// refScan is who holds what, recomputed from the device table.
type refScan struct {
	used, remembered map[DriveAddress]bool
	count            map[uint16]int // plugged disks per controller
}

func (r *refAlloc) scan() refScan {
	s := refScan{map[DriveAddress]bool{}, map[DriveAddress]bool{}, map[uint16]int{}}
	for _, d := range r.devs {
		switch {
		case d.plugged:
			s.used[*d.addr] = true
			s.count[d.addr.Controller]++
		case d.addr != nil:
			s.remembered[*d.addr] = true
		}
	}
	return s
}

// choose applies Plug's rules to d (nil: a new device) and records the
// result in s.
func (r *refAlloc) choose(s refScan, d *refDev, boot bool) (DriveAddress, error) {
	a, err := r.pick(s, d, boot)
	if err == nil {
		s.used[a] = true
		s.count[a.Controller]++
	}
	return a, err
}

func (r *refAlloc) pick(s refScan, d *refDev, boot bool) (DriveAddress, error) {
	if d != nil && d.addr != nil && slices.Contains(r.ctrls, d.addr.Controller) && !s.used[*d.addr] {
		return *d.addr, nil
	}
	reserved := da(r.ctrls[0], 0, 0)
	if boot && !s.used[reserved] {
		return reserved, nil
	}
	order := slices.Clone(r.ctrls)
	slices.SortStableFunc(order, func(x, y uint16) int { return s.count[x] - s.count[y] })
	for _, c := range order {
		for _, fresh := range []bool{true, false} {
			for t := uint16(0); t <= MaxTarget; t++ {
				for u := uint16(0); u < r.units; u++ {
					a := da(c, t, u)
					if a != reserved && !s.used[a] && !(fresh && s.remembered[a]) {
						return a, nil
					}
				}
			}
		}
	}
	return DriveAddress{}, ErrTooManyDisks
}

// plug plugs id; s must be r.scan() or kept up to date since.
func (r *refAlloc) plug(s refScan, id string, boot bool) (DriveAddress, error) {
	d := r.devs[id]
	n := 0
	for _, k := range s.count {
		n += k
	}
	switch {
	case d != nil && d.plugged:
		return DriveAddress{}, ErrAlreadyPlugged
	case len(r.ctrls) == 0:
		return DriveAddress{}, ErrNoController
	case n >= MaxDisksPerVM:
		return DriveAddress{}, ErrTooManyDisks
	}
	addr, err := r.choose(s, d, boot)
	if err != nil {
		return addr, err
	}
	if d == nil {
		d = &refDev{}
		r.devs[id] = d
	}
	d.addr, d.plugged, d.boot = &addr, true, boot
	return addr, nil
}

func (r *refAlloc) unplug(id string) error {
	switch d := r.devs[id]; {
	case d == nil:
		return ErrUnknownDevice
	case !d.plugged:
		return ErrNotPlugged
	default:
		d.plugged = false
		return nil
	}
}

func (r *refAlloc) remove(id string) error {
	if r.devs[id] == nil {
		return ErrUnknownDevice
	}
	delete(r.devs, id)
	return nil
}

// setControllers moves plugged disks off removed controllers, boot disks
// first and then in the order of their old addresses; on error it changes
// nothing, like the Allocator.
func (r *refAlloc) setControllers(ctrls []uint16) (map[string]DriveAddress, error) {
	if len(ctrls) == 0 && len(r.scan().count) > 0 {
		return nil, ErrNoController
	}
	saved, savedCtrls := r.devs, r.ctrls
	r.devs = map[string]*refDev{}
	for id, d := range saved {
		c := *d
		r.devs[id] = &c
	}
	type mover struct {
		id   string
		old  DriveAddress
		boot bool
	}
	var movers []mover
	for id, d := range r.devs {
		if d.addr != nil && !slices.Contains(ctrls, d.addr.Controller) {
			if d.plugged {
				movers = append(movers, mover{id, *d.addr, d.boot})
			}
			d.addr, d.plugged = nil, false
		}
	}
	slices.SortFunc(movers, func(x, y mover) int {
		if x.boot != y.boot {
			return boolRank(y.boot) - boolRank(x.boot)
		}
		if x.old.Less(y.old) {
			return -1
		}
		return 1 // plugged disks never share an address
	})
	r.ctrls = slices.Sorted(slices.Values(ctrls))
	moved := map[string]DriveAddress{}
	s := r.scan()
	for _, mv := range movers {
		d := r.devs[mv.id]
		addr, err := r.choose(s, nil, d.boot)
		if err != nil {
			r.devs, r.ctrls = saved, savedCtrls
			return nil, err
		}
		d.addr, d.plugged = &addr, true
		moved[mv.id] = addr
	}
	return moved, nil
}

func (r *refAlloc) state() map[string]Slot {
	out := map[string]Slot{}
	for id, d := range r.devs {
		out[id] = Slot{ID: id, Addr: d.addr, Plugged: d.plugged, Boot: d.boot}
	}
	return out
}

func sameSlot(x, y Slot) bool {
	return x.ID == y.ID && x.Plugged == y.Plugged && x.Boot == y.Boot &&
		(x.Addr == nil) == (y.Addr == nil) && (x.Addr == nil || *x.Addr == *y.Addr)
}

func slotMap(slots []Slot) map[string]Slot {
	out := map[string]Slot{}
	for _, s := range slots {
		out[s.ID] = s
	}
	return out
}

var sentinels = []error{ErrAddressConflict, ErrNoController, ErrTooManyDisks, ErrAlreadyPlugged,
	ErrNotPlugged, ErrUnknownDevice, ErrBadInput, ErrBadAddress}

func sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

func sameErr(t *rapid.T, what string, got, want error) {
	t.Helper()
	if sentinel(got) != want {
		t.Fatalf("%s: error %v, model says %v", what, got, want)
	}
}

// allocMachine drives the Allocator and the model with the same operations.
type allocMachine struct {
	a     *Allocator
	ref   *refAlloc
	pool  []string
	bulks int
	// forks are allocators forked from, with their slots at the fork:
	// they must never change again.
	forks []forked
}

type forked struct {
	a     *Allocator
	slots []Slot
}

// stably runs op and fails if any device other than the ones mayChange
// allows lost or changed its address: plugged disks never move and
// unplugged ones never forget, except through the operation's own rules.
func (m *allocMachine) stably(t *rapid.T, mayChange func(id string, old DriveAddress) bool, op func()) {
	t.Helper()
	before := map[string]DriveAddress{}
	for id, d := range m.a.devs.all() {
		if d.hasAddr {
			before[id] = d.addr
		}
	}
	op()
	for id, old := range before {
		if got, ok := m.a.Address(id); (!ok || got != old) && !mayChange(id, old) {
			t.Fatalf("%s moved from %v to %v (%v)", id, old, got, ok)
		}
	}
}

func (m *allocMachine) plug(t *rapid.T, id string, boot bool) {
	t.Helper()
	// A device whose remembered address is free must get it back.
	old, had := m.a.Address(id)
	keep := had && m.a.byIndex[old.Controller] != nil
	for other, d := range m.a.devs.all() {
		keep = keep && !(d.plugged && other != id && d.addr == old)
	}
	m.stably(t, func(other string, _ DriveAddress) bool { return other == id && !keep }, func() {
		got, err := m.a.Plug(id, boot)
		want, wantErr := m.ref.plug(m.ref.scan(), id, boot)
		sameErr(t, fmt.Sprintf("Plug(%q, %v)", id, boot), err, wantErr)
		if err == nil && got != want {
			t.Fatalf("Plug(%q, %v) = %v, model says %v", id, boot, got, want)
		}
	})
}

func (m *allocMachine) setControllers(t *rapid.T, ctrls []uint16) {
	removed := func(_ string, old DriveAddress) bool { return !slices.Contains(ctrls, old.Controller) }
	m.stably(t, removed, func() {
		moved, err := m.a.SetControllers(ctrls)
		want, wantErr := m.ref.setControllers(ctrls)
		sameErr(t, fmt.Sprintf("SetControllers(%v)", ctrls), err, wantErr)
		if diff := cmp.Diff(want, moved); err == nil && diff != "" {
			t.Fatalf("SetControllers(%v) moved (-model +got):\n%s", ctrls, diff)
		}
	})
}

func (m *allocMachine) check(t *rapid.T) {
	slots := m.a.Slots()
	seen := map[DriveAddress]string{}
	for i, s := range slots {
		if i > 0 && compareSlots(slots[i-1], s) >= 0 {
			t.Fatalf("Slots out of order at %d: %+v, %+v", i, slots[i-1], s)
		}
		if !s.Plugged {
			continue
		}
		if other, dup := seen[*s.Addr]; dup {
			t.Fatalf("%s and %s both plugged at %v", other, s.ID, *s.Addr)
		}
		seen[*s.Addr] = s.ID
		if err := s.Addr.Validate(); err != nil || m.a.byIndex[s.Addr.Controller] == nil {
			t.Fatalf("%s plugged at %v: %v, controllers %v", s.ID, *s.Addr, err, m.ref.ctrls)
		}
	}
	if want, got := m.ref.state(), slotMap(slots); !maps.EqualFunc(want, got, sameSlot) {
		diff := cmp.Diff(want, got)
		t.Fatalf("allocator and model disagree (-model +allocator):\n%s", diff)
	}
	checkInternal(t, m.a)
	for i, f := range m.forks {
		if got := f.a.Slots(); !slices.EqualFunc(got, f.slots, sameSlot) {
			t.Fatalf("fork %d changed the allocator it was forked from (-before +after):\n%s", i, cmp.Diff(f.slots, got))
		}
		checkInternal(t, f.a)
	}
	// Slots round-trips into an equal allocator.
	b, err := NewAllocator(m.a.layout, m.ref.ctrls, slots)
	if err != nil {
		t.Fatalf("NewAllocator(Slots()): %v", err)
	}
	checkInternal(t, b)
	if again := b.Slots(); !slices.EqualFunc(slots, again, sameSlot) {
		diff := cmp.Diff(slots, again)
		t.Fatalf("round trip changed the slots (-before +after):\n%s", diff)
	}
	if got, want := fmt.Sprint(ctrlIndexes(b)), fmt.Sprint(m.ref.ctrls); got != want {
		t.Fatalf("round trip controllers %s, want %s", got, want)
	}
}

func ctrlIndexes(a *Allocator) []uint16 {
	var out []uint16
	for _, c := range a.ctrls {
		out = append(out, c.index)
	}
	return out
}

// ctrlSets draws a VM's controller indexes (its I/O-thread controllers).
func ctrlSets(minN int) *rapid.Generator[[]uint16] {
	return rapid.SliceOfNDistinct(rapid.Uint16Range(0, 9), minN, 8, rapid.ID[uint16])
}

func TestAllocatorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := Layout{UnitsPerTarget: rapid.SampledFrom([]uint16{1, 2, 64}).Draw(t, "units")}
		ctrls := ctrlSets(1).Draw(t, "controllers")
		var initial []Slot
		if rapid.Bool().Draw(t, "legacy") { // a disk from oVirt's layout, outside ours
			initial = append(initial, Slot{ID: "legacy", Addr: dap(ctrls[0], 0, l.UnitsPerTarget+5), Plugged: true})
		}
		a, err := NewAllocator(l, ctrls, initial)
		if err != nil {
			t.Fatal(err)
		}
		m := &allocMachine{a: a, ref: &refAlloc{units: l.UnitsPerTarget, ctrls: slices.Sorted(slices.Values(ctrls)), devs: map[string]*refDev{}}}
		for _, s := range initial {
			m.ref.devs[s.ID] = &refDev{addr: s.Addr, plugged: true}
		}
		m.pool = append(diskIDs("d", 12), "legacy")
		pick := func(t *rapid.T) string { return rapid.SampledFrom(m.pool).Draw(t, "id") }
		t.Repeat(map[string]func(*rapid.T){
			"plug": func(t *rapid.T) { m.plug(t, pick(t), rapid.IntRange(0, 3).Draw(t, "boot") == 0) },
			"unplug": func(t *rapid.T) {
				id := pick(t)
				m.stably(t, func(string, DriveAddress) bool { return false }, func() {
					sameErr(t, "Unplug", m.a.Unplug(id), m.ref.unplug(id))
				})
			},
			"remove": func(t *rapid.T) {
				id := pick(t)
				m.stably(t, func(other string, _ DriveAddress) bool { return other == id }, func() {
					sameErr(t, "Remove", m.a.Remove(id), m.ref.remove(id))
				})
			},
			"controllers": func(t *rapid.T) { m.setControllers(t, ctrlSets(0).Draw(t, "set")) },
			"bulk": func(t *rapid.T) { // enough disks to fill small layouts
				n := rapid.IntRange(1, 128).Draw(t, "n")
				m.stably(t, func(string, DriveAddress) bool { return false }, func() {
					s := m.ref.scan()
					for range n {
						m.bulks++
						id := fmt.Sprintf("b%d", m.bulks)
						m.pool = append(m.pool, id)
						got, err := m.a.Plug(id, false)
						want, wantErr := m.ref.plug(s, id, false)
						sameErr(t, "bulk Plug", err, wantErr)
						if err == nil && got != want {
							t.Fatalf("Plug(%q) = %v, model says %v", id, got, want)
						}
					}
				})
			},
			"fork": func(t *rapid.T) { // the engine forks its kept allocator per command
				m.forks = append(m.forks, forked{a: m.a, slots: m.a.Slots()})
				m.a = m.a.Fork()
			},
			"reload": func(t *rapid.T) { // the engine follows a changed row: Remove, then Load
				id := pick(t)
				slot, ok := slotMap(m.a.Slots())[id]
				if !ok {
					return
				}
				m.stably(t, func(string, DriveAddress) bool { return false }, func() {
					if err := m.a.Remove(id); err != nil {
						t.Fatalf("Remove(%q): %v", id, err)
					}
					if err := m.a.Load(slot); err != nil {
						t.Fatalf("Load(%+v): %v", slot, err)
					}
				})
			},
			"restart": func(t *rapid.T) { // the engine persists and reloads
				b, err := NewAllocator(l, m.ref.ctrls, m.a.Slots())
				if err != nil {
					t.Fatal(err)
				}
				m.a = b
			},
			"": m.check,
		})
	})
}
