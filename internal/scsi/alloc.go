package scsi

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Layout says how the allocator lays addresses out on one controller. The
// engine chooses every virtio-scsi address itself (libvirt's own scheme caps a
// controller at 7 units, which broke oVirt and Nova), so the shape of that
// choice is explicit and documented in docs/ADDRESSING.md.
//
// Slots are filled target-major: target 0 units 0..UnitsPerTarget-1, then
// target 1, and so on up to target MaxTarget.
type Layout struct {
	// UnitsPerTarget is how many LUNs each target gets, 1..MaxUnit+1. Keep it
	// at most 256 so that guests never see flat-space LUN numbers (see
	// GuestLUN).
	UnitsPerTarget uint16
}

// DefaultLayout puts 64 units on each of the 256 targets. 64 is the smallest
// count at which one controller holds a full VM: 256 × 64 = 16,384 slots, the
// boot slot plus MaxDisksPerVM others. Units stay below 256, so guests never
// see flat-space LUNs (see GuestLUN) and Windows' storport, which handles at
// most 255 LUNs per target, sees every disk; each REPORT LUNS answer lists at
// most 64 LUNs.
var DefaultLayout = Layout{UnitsPerTarget: 64}

// size is the number of layout slots on one controller.
func (l Layout) size() int { return (MaxTarget + 1) * int(l.UnitsPerTarget) }

// index returns a's slot number in the layout, or false when a lies outside
// it (a unit at or above UnitsPerTarget, e.g. one that oVirt's own layout or
// an older govirt layout persisted). a must be valid.
func (l Layout) index(a DriveAddress) (int, bool) {
	if a.Unit >= l.UnitsPerTarget {
		return 0, false
	}
	return int(a.Target)*int(l.UnitsPerTarget) + int(a.Unit), true
}

// address is index's inverse on controller c.
func (l Layout) address(c uint16, i int) DriveAddress {
	u := int(l.UnitsPerTarget)
	return DriveAddress{Controller: c, Target: uint16(i / u), Unit: uint16(i % u)}
}

func (l Layout) validate() error {
	if l.UnitsPerTarget == 0 || int(l.UnitsPerTarget) > MaxUnit+1 {
		return fmt.Errorf("%w: layout with %d units per target (want 1..%d)", ErrBadInput, l.UnitsPerTarget, MaxUnit+1)
	}
	return nil
}

// Slot is one virtio-scsi disk device of a VM as the engine persists it: an
// allocator is built from these (NewAllocator), and the engine keeps it in
// step with its rows one slot at a time (Remove, Load) and forks it under the
// VM's lock for every change (Fork).
type Slot struct {
	ID      string        // device id (the disk id)
	Addr    *DriveAddress // nil: never addressed yet (or address forgotten)
	Plugged bool          // plugged devices own their address; unplugged ones only remember it
	Boot    bool          // the attachment is bootable
}

// Errors the allocator returns, wrapped with details; the engine maps them to
// oVirt's messages (ErrTooManyDisks to ACTION_TYPE_FAILED_EXCEEDED_MAX_VIRTIO_SCSI_DISKS,
// ErrNoController to CANNOT_PERFORM_ACTION_VIRTIO_SCSI_IS_DISABLED or
// CANNOT_DISABLE_VIRTIO_SCSI_PLUGGED_DISKS, ErrAlreadyPlugged to
// HOT_PLUG_DISK_IS_NOT_UNPLUGGED, ErrNotPlugged to HOT_UNPLUG_DISK_IS_NOT_PLUGGED).
var (
	// ErrAddressConflict: two plugged devices claim one address (corrupt
	// persisted state; the database's unique index should have stopped it).
	ErrAddressConflict = errors.New("drive address already in use")
	// ErrNoController: the VM has no virtio-scsi controller to put a disk on.
	ErrNoController = errors.New("no virtio-scsi controller")
	// ErrTooManyDisks: MaxDisksPerVM disks are plugged, or the layout has no
	// free slot left on any controller.
	ErrTooManyDisks = errors.New("too many virtio-scsi disks")
	// ErrAlreadyPlugged: Plug of a device that is plugged.
	ErrAlreadyPlugged = errors.New("device already plugged")
	// ErrNotPlugged: Unplug of a device that is not plugged.
	ErrNotPlugged = errors.New("device not plugged")
	// ErrUnknownDevice: the id names no device of the VM.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrBadInput: a bad layout, a duplicate controller index, or an empty or
	// duplicate device id.
	ErrBadInput = errors.New("invalid allocator input")

	errNeedsAddress = fmt.Errorf("%w: a plugged slot without an address can only be loaded by NewAllocator", ErrBadInput)
)

// Allocator assigns drive addresses to one VM's virtio-scsi disks. It is pure
// and not safe for concurrent use, except that an allocator nobody changes any
// more may be forked by several goroutines at once: the engine keeps one per
// VM with its cached rows, forks it under the VM's lock for a change and
// persists the device rows the change touched, with a
// unique index on (vm, controller, bus, target, unit) of plugged devices as
// the backstop against the duplicate units oVirt shipped (BZ 1206374,
// 1905108, 2040361). The index must be partial (plugged rows only), because
// unplugged devices may remember an address a plugged one now holds.
//
// Plugged devices own their address. Unplugged devices remember theirs so a
// replug gets it back, but do not reserve it; new disks avoid remembered slots
// while others are free.
type Allocator struct {
	layout  Layout
	ctrls   []*allocCtrl // ascending index
	byIndex map[uint16]*allocCtrl
	devs    devTable
	outside map[DriveAddress]string // plugged addresses outside the layout -> device id
	kept    map[DriveAddress]int    // layout addresses -> how many unplugged devices remember them
	plugged int
}

type allocDev struct {
	addr    DriveAddress
	hasAddr bool
	plugged bool
	boot    bool
}

// allocCtrl tracks one controller's layout slots in two bitmaps so that
// finding the next slot is a word scan from a cursor, amortized O(1).
type allocCtrl struct {
	index   uint16
	plugged int       // plugged disks on the controller, inside the layout or not
	used    allocBits // slots held by plugged devices
	kept    allocBits // slots remembered by unplugged devices
	fresh   int       // every slot in [lo, fresh) is used or kept
	free    int       // every slot in [lo, free) is used
}

// NewAllocator rebuilds the allocator from a VM's persisted controllers (their
// indexes) and disk devices, in O(len(slots)).
//
// Plugged slots must have valid, distinct addresses on existing controllers
// (errors wrap ErrBadAddress or ErrAddressConflict). Addresses outside l are
// accepted and kept, so disks addressed under another layout (oVirt's target
// 0, units 0..16383) do not move. Unplugged slots may share addresses with
// anything; an unplugged slot's address on a controller that does not exist is
// forgotten. Plugged slots without an address are addressed as Plug would,
// boot disks first and then in the order given.
func NewAllocator(l Layout, controllers []uint16, slots []Slot) (*Allocator, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	a, err := newEmpty(l, controllers, len(slots))
	if err != nil {
		return nil, err
	}
	backing := make([]allocDev, len(slots))
	var pending []int // plugged slots without an address
	for i, s := range slots {
		if err := a.load(s, &backing[i]); err != nil {
			if errors.Is(err, ErrAddressConflict) {
				return nil, fmt.Errorf("%w (device %q%s)", err, s.ID, conflictWith(slots[:i], *s.Addr))
			}
			return nil, fmt.Errorf("%w (device %q)", err, s.ID)
		}
		if s.Plugged && s.Addr == nil {
			pending = append(pending, i)
		}
	}
	if n := a.plugged + len(pending); n > MaxDisksPerVM {
		return nil, fmt.Errorf("%w: %d plugged, at most %d", ErrTooManyDisks, n, MaxDisksPerVM)
	}
	if len(pending) > 0 && len(a.ctrls) == 0 {
		return nil, fmt.Errorf("%w: cannot address plugged device %q", ErrNoController, slots[pending[0]].ID)
	}
	// Boot disks first, so that a VM never addressed before gets the layout
	// AssignInOrder would give it.
	slices.SortStableFunc(pending, func(i, j int) int { return boolRank(slots[j].Boot) - boolRank(slots[i].Boot) })
	for _, i := range pending {
		d := &backing[i]
		addr, err := a.choose(d, d.boot)
		if err != nil {
			return nil, fmt.Errorf("%w (device %q)", err, slots[i].ID)
		}
		a.take(slots[i].ID, d, addr)
	}
	return a, nil
}

func newEmpty(l Layout, controllers []uint16, n int) (*Allocator, error) {
	idx := slices.Clone(controllers)
	slices.Sort(idx)
	a := &Allocator{
		layout:  l,
		byIndex: make(map[uint16]*allocCtrl, len(idx)),
		devs:    newDevTable(n),
		outside: map[DriveAddress]string{},
		kept:    map[DriveAddress]int{},
	}
	for i, c := range idx {
		if i > 0 && idx[i-1] == c {
			return nil, fmt.Errorf("%w: controller %d listed twice", ErrBadInput, c)
		}
		ctl := &allocCtrl{index: c}
		a.ctrls = append(a.ctrls, ctl)
		a.byIndex[c] = ctl
	}
	return a, nil
}

// load adds one persisted slot, leaving plugged slots without an address
// unplaced for NewAllocator to address once every remembered slot is known.
func (a *Allocator) load(s Slot, d *allocDev) error {
	if s.ID == "" {
		return fmt.Errorf("%w: empty device id", ErrBadInput)
	}
	if _, ok := a.devs.get(s.ID); ok {
		return fmt.Errorf("%w: device listed twice", ErrBadInput)
	}
	d.boot = s.Boot
	a.devs.put(s.ID, d)
	if s.Addr == nil {
		return nil
	}
	addr := *s.Addr
	if err := addr.Validate(); err != nil {
		return err
	}
	if a.byIndex[addr.Controller] == nil {
		if s.Plugged {
			return fmt.Errorf("%w: %v is on controller %d, which the VM does not have", ErrBadAddress, addr, addr.Controller)
		}
		return nil // remembered on a controller that is gone: forget it
	}
	if !s.Plugged {
		d.addr, d.hasAddr = addr, true
		a.remember(addr)
		return nil
	}
	if !a.isFree(addr) {
		return fmt.Errorf("%w: %v", ErrAddressConflict, addr)
	}
	a.take(s.ID, d, addr)
	return nil
}

// conflictWith names the earlier plugged slot holding addr, for the error
// message only (so the happy path keeps no owner table).
func conflictWith(earlier []Slot, addr DriveAddress) string {
	for _, e := range earlier {
		if e.Plugged && e.Addr != nil && *e.Addr == addr {
			return fmt.Sprintf(", also held by %q", e.ID)
		}
	}
	return ""
}

// Plug gives the new or unplugged device id an address and marks it plugged,
// trying in turn:
//
//  1. the address it remembers, if its controller still exists and no plugged
//     device took the address meanwhile: attachments keep their address
//     across unplug/plug and restarts;
//  2. for a boot disk, target 0 unit 0 of the lowest controller, reserved for
//     boot disks so the guest finds the boot disk first;
//  3. the first slot in layout order on the controller with the fewest plugged
//     disks (ties: lowest index), which spreads disks round robin over the
//     I/O-thread controllers. Slots no unplugged device remembers come first,
//     so replugging those devices keeps working.
func (a *Allocator) Plug(id string, boot bool) (DriveAddress, error) {
	if id == "" {
		return DriveAddress{}, fmt.Errorf("%w: empty device id", ErrBadInput)
	}
	d := a.devs.mut(id)
	switch {
	case d != nil && d.plugged:
		return DriveAddress{}, fmt.Errorf("%w: %q", ErrAlreadyPlugged, id)
	case len(a.ctrls) == 0:
		return DriveAddress{}, fmt.Errorf("%w: cannot plug %q", ErrNoController, id)
	case a.plugged >= MaxDisksPerVM:
		return DriveAddress{}, fmt.Errorf("%w: %d plugged, at most %d", ErrTooManyDisks, a.plugged, MaxDisksPerVM)
	}
	addr, err := a.choose(d, boot)
	if err != nil {
		return DriveAddress{}, fmt.Errorf("%w (device %q)", err, id)
	}
	if d == nil {
		d = &allocDev{}
		a.devs.put(id, d)
	} else if d.hasAddr {
		a.forget(d.addr)
	}
	d.boot = boot
	a.take(id, d, addr)
	return addr, nil
}

// choose picks d's address by Plug's rules; d is nil for a new device. All
// remembered addresses are on existing controllers (load and SetControllers
// forget the others).
func (a *Allocator) choose(d *allocDev, boot bool) (DriveAddress, error) {
	if d != nil && d.hasAddr && a.isFree(d.addr) {
		return d.addr, nil
	}
	first := a.ctrls[0]
	if boot && !first.used.get(0) {
		return a.layout.address(first.index, 0), nil
	}
	best := a.ctrls[0]
	for _, c := range a.ctrls[1:] {
		if c.plugged < best.plugged {
			best = c
		}
	}
	if i := a.search(best); i >= 0 {
		return a.layout.address(best.index, i), nil
	}
	// The emptiest controller's layout is full (possible only with small
	// layouts or disks parked outside the layout): try the others in order.
	order := slices.Clone(a.ctrls)
	slices.SortStableFunc(order, func(x, y *allocCtrl) int { return x.plugged - y.plugged })
	for _, c := range order {
		if i := a.search(c); i >= 0 {
			return a.layout.address(c.index, i), nil
		}
	}
	return DriveAddress{}, fmt.Errorf("%w: no free slot in a layout of %d units per target on %d controllers",
		ErrTooManyDisks, a.layout.UnitsPerTarget, len(a.ctrls))
}

// search returns c's first slot in layout order that no plugged device holds,
// preferring slots no unplugged device remembers, or -1. Slot 0 of the lowest
// controller is never returned: it is the boot disk's.
func (a *Allocator) search(c *allocCtrl) int {
	lo, n := 0, a.layout.size()
	if c == a.ctrls[0] {
		lo = 1
	}
	c.fresh, c.free = max(c.fresh, lo), max(c.free, lo)
	if i := firstClear(c.used, c.kept, c.fresh, n); i >= 0 {
		c.fresh = i
		return i
	}
	c.fresh = n
	if i := firstClear(c.used, nil, c.free, n); i >= 0 {
		c.free = i
		return i
	}
	c.free = n
	return -1
}

// Unplug marks id unplugged. It keeps the address as remembered, so that a
// later Plug returns it unless a plugged device took it meanwhile.
func (a *Allocator) Unplug(id string) error {
	d := a.devs.mut(id)
	switch {
	case d == nil:
		return fmt.Errorf("%w: %q", ErrUnknownDevice, id)
	case !d.plugged:
		return fmt.Errorf("%w: %q", ErrNotPlugged, id)
	}
	a.release(d)
	a.remember(d.addr)
	return nil
}

// Remove forgets id entirely (the disk was detached from the VM), freeing or
// un-remembering its address.
func (a *Allocator) Remove(id string) error {
	d := a.devs.mut(id)
	switch {
	case d == nil:
		return fmt.Errorf("%w: %q", ErrUnknownDevice, id)
	case d.plugged:
		a.release(d)
	case d.hasAddr:
		a.forget(d.addr)
	}
	a.devs.del(id)
	return nil
}

// SetControllers applies a change of the VM's controllers (its I/O-thread
// count). Disks keep their addresses wherever their controller remains; only
// plugged disks on removed controllers move, boot disks first and then in
// address order, each to the emptiest remaining controller, which spreads them
// round robin. It returns their new addresses. Unplugged devices on removed
// controllers forget their address. With no controllers left, any plugged disk
// is an ErrNoController error: the engine refuses to disable virtio-scsi while
// disks are plugged. On error the allocator is unchanged.
func (a *Allocator) SetControllers(controllers []uint16) (moved map[string]DriveAddress, err error) {
	if len(controllers) == 0 && a.plugged > 0 {
		return nil, fmt.Errorf("%w: %d disks are plugged", ErrNoController, a.plugged)
	}
	keep := make(map[uint16]bool, len(controllers))
	for _, c := range controllers {
		keep[c] = true
	}
	slots := a.Slots()
	var movers []string
	for i := range slots {
		s := &slots[i]
		if s.Addr != nil && !keep[s.Addr.Controller] {
			if s.Plugged {
				movers = append(movers, s.ID)
			}
			s.Addr = nil
		}
	}
	// Rebuilding is O(n) and reuses NewAllocator's placement of plugged
	// slots without an address, so moved disks follow Plug's rules exactly.
	b, err := NewAllocator(a.layout, controllers, slots)
	if err != nil {
		return nil, err
	}
	moved = make(map[string]DriveAddress, len(movers))
	for _, id := range movers {
		d, _ := b.devs.get(id)
		moved[id] = d.addr
	}
	*a = *b
	return moved, nil
}

// Address returns the address id holds (plugged) or remembers (unplugged);
// false when id is unknown or has no address.
func (a *Allocator) Address(id string) (DriveAddress, bool) {
	d, ok := a.devs.get(id)
	if !ok || !d.hasAddr {
		return DriveAddress{}, false
	}
	return d.addr, true
}

// PluggedOn returns how many plugged disks controller carries (0 for an
// unknown controller): QEMU's cost per SCSI command grows with it.
func (a *Allocator) PluggedOn(controller uint16) int {
	if c, ok := a.byIndex[controller]; ok {
		return c.plugged
	}
	return 0
}

// Slots returns every device's current state for persisting, sorted by
// address then id (devices without an address last), so that output and
// persisted rows are deterministic.
func (a *Allocator) Slots() []Slot {
	var out []Slot
	for id, d := range a.devs.all() {
		s := Slot{ID: id, Plugged: d.plugged, Boot: d.boot}
		if d.hasAddr {
			s.Addr = &d.addr // d is this iteration's copy
		}
		out = append(out, s)
	}
	slices.SortFunc(out, compareSlots)
	return out
}

func compareSlots(x, y Slot) int {
	switch {
	case x.Addr == nil && y.Addr != nil:
		return 1
	case x.Addr != nil && y.Addr == nil:
		return -1
	case x.Addr != nil && *x.Addr != *y.Addr:
		if x.Addr.Less(*y.Addr) {
			return -1
		}
		return 1
	case x.ID < y.ID:
		return -1
	case x.ID > y.ID:
		return 1
	}
	return 0
}

// AssignInOrder addresses a VM's disks from scratch, deterministically: the
// boot disk bootID first (it gets target 0 unit 0 of the lowest controller),
// then ids in the order given. bootID may be empty; otherwise it must be one
// of ids. The result is parallel to ids.
func AssignInOrder(l Layout, controllers []uint16, ids []string, bootID string) ([]DriveAddress, error) {
	a, err := NewAllocator(l, controllers, nil)
	if err != nil {
		return nil, err
	}
	out := make([]DriveAddress, len(ids))
	bootAt := -1
	if bootID != "" {
		if bootAt = slices.Index(ids, bootID); bootAt < 0 {
			return nil, fmt.Errorf("%w: boot disk %q is not among the disks", ErrUnknownDevice, bootID)
		}
		if out[bootAt], err = a.Plug(bootID, true); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		if i == bootAt {
			continue
		}
		if out[i], err = a.Plug(id, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isFree reports whether addr is on an existing controller and no plugged
// device holds it.
func (a *Allocator) isFree(addr DriveAddress) bool {
	c := a.byIndex[addr.Controller]
	if c == nil {
		return false
	}
	if i, ok := a.layout.index(addr); ok {
		return !c.used.get(i)
	}
	_, held := a.outside[addr]
	return !held
}

// take makes d, known as id, the plugged owner of addr, which must be free.
func (a *Allocator) take(id string, d *allocDev, addr DriveAddress) {
	d.addr, d.hasAddr, d.plugged = addr, true, true
	c := a.byIndex[addr.Controller]
	c.plugged++
	a.plugged++
	if i, ok := a.layout.index(addr); ok {
		c.used.set(i)
	} else {
		a.outside[addr] = id
	}
}

// release frees plugged d's address and marks it unplugged; d keeps the
// address value for the caller to remember or drop.
func (a *Allocator) release(d *allocDev) {
	d.plugged = false
	c := a.byIndex[d.addr.Controller]
	c.plugged--
	a.plugged--
	if i, ok := a.layout.index(d.addr); ok {
		c.used.clear(i)
		c.lower(i)
	} else {
		delete(a.outside, d.addr)
	}
}

// remember counts one more unplugged device remembering addr.
func (a *Allocator) remember(addr DriveAddress) {
	if i, ok := a.layout.index(addr); ok {
		a.kept[addr]++
		a.byIndex[addr.Controller].kept.set(i)
	}
}

// forget undoes remember.
func (a *Allocator) forget(addr DriveAddress) {
	i, ok := a.layout.index(addr)
	if !ok {
		return
	}
	if a.kept[addr]--; a.kept[addr] > 0 {
		return
	}
	delete(a.kept, addr)
	c := a.byIndex[addr.Controller]
	c.kept.clear(i)
	c.lower(i)
}

// lower moves the cursors back after slot i may have become free.
func (c *allocCtrl) lower(i int) {
	c.fresh, c.free = min(c.fresh, i), min(c.free, i)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// allocBits is a growable bit set; bits past its end are zero, so a VM with a
// few disks costs a few words whatever the layout.
type allocBits []uint64

func (b allocBits) get(i int) bool {
	w := i >> 6
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b *allocBits) set(i int) {
	w := i >> 6
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i & 63)
}

func (b allocBits) clear(i int) {
	if w := i >> 6; w < len(b) {
		b[w] &^= 1 << (i & 63)
	}
}

// firstClear returns the first i in [from, n) set in neither x nor y, or -1.
func firstClear(x, y allocBits, from, n int) int {
	for w := from >> 6; w<<6 < n; w++ {
		var v uint64
		if w < len(x) {
			v = x[w]
		}
		if w < len(y) {
			v |= y[w]
		}
		if w == from>>6 {
			v |= 1<<(from&63) - 1 // bits below from do not count
		}
		if v != ^uint64(0) {
			if i := w<<6 + bits.TrailingZeros64(^v); i < n {
				return i
			}
			return -1
		}
	}
	return -1
}
