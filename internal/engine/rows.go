package engine

import (
	"iter"
	"maps"
	"math/bits"
	"slices"
	"sort"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/pmap"
	"github.com/govirt/govirt/internal/scsi"
)

// rowSet is one VM's device, attachment and disk rows, in persistent maps
// (internal/pmap), with the figures commands ask of them kept up to date
// as rows change: how many disks are plugged per interface and per
// controller, which device names are taken, and the virtio-scsi address
// allocator. A hot-plug into a VM with 16,000 disks used to copy, index,
// count and scan all of its rows several times, about 4.6 µs per disk
// already in the VM; each change here costs O(log n) for the rows and
// about O(√n) for the allocator (scsi.Allocator.Fork), and nothing scans.
//
// A rowSet is a value, but not a plain one: copy it only with share, which
// makes both copies copy sums before their next change. The maps need no
// such care: a change makes a new version and leaves the old one as it
// was, so a cache entry's rows can be read by any number of transactions
// while one derives the next entry from them.
type rowSet struct {
	diskDevs  pmap.Map[model.VmDevice]       // devices of type disk (and the CD-ROM) by id
	otherDevs pmap.Map[model.VmDevice]       // the other devices (controllers) by id
	atts      pmap.Map[model.DiskAttachment] // by disk id
	disks     pmap.Map[model.Disk]           // by id
	sums      *rowSums
	// owned says sums is this rowSet's own to change; otherwise it may be
	// shared with a cache entry and is copied before the first change.
	owned bool
}

// rowSums are figures derived from a rowSet's rows, changed with them.
type rowSums struct {
	active  map[model.DiskInterface]int // active attachments by interface
	perCtrl map[int]int                 // plugged, active, addressed disks (not the CD-ROM) by controller index
	names   pmap.Map[int]               // target devs of plugged devices: how many hold each
	// nameBits has, per device name prefix, the indexes of the taken
	// names (scsi.DeviceIndex), so the lowest free one is a word scan.
	nameBits map[string][]uint64
	orphans  int // attachments whose disk row is missing
	// alloc is scsi.NewAllocator of the rows, kept in step with them; nil
	// when not built yet or when it cannot be kept (a plugged disk without
	// an address, inconsistent rows, a change of controllers): then it is
	// built from the rows on need.
	alloc *scsi.Allocator
}

// namePrefixes are the prefixes nameBits tracks.
var namePrefixes = [...]string{scsi.PrefixSCSI, scsi.PrefixVirtIO, scsi.PrefixIDE}

// rowsFromLists builds a rowSet from the store's lists (each in id order,
// as the store lists them; other orders cost a sort).
func rowsFromLists(devs []model.VmDevice, atts []model.DiskAttachment, disks []model.Disk) rowSet {
	var diskDevs, otherDevs []model.VmDevice
	for _, d := range devs {
		d = cloneDevice(d)
		if d.Type == model.DeviceTypeDisk {
			diskDevs = append(diskDevs, d)
		} else {
			otherDevs = append(otherDevs, d)
		}
	}
	devID := func(d model.VmDevice) string { return d.ID }
	rs := rowSet{
		diskDevs:  pmap.FromSorted(diskDevs, devID),
		otherDevs: pmap.FromSorted(otherDevs, devID),
		atts:      pmap.FromSorted(atts, attachmentKey),
		disks:     pmap.FromSorted(cloneDisks(disks), func(d model.Disk) string { return d.ID }),
		sums:      &rowSums{active: map[model.DiskInterface]int{}, perCtrl: map[int]int{}, nameBits: map[string][]uint64{}},
		owned:     true,
	}
	for _, d := range devs {
		rs.renamed(nil, &d)
	}
	for _, a := range rs.atts.All() {
		if a.Active {
			rs.sums.active[a.Interface]++
		}
		if !rs.disks.Has(a.DiskID) {
			rs.sums.orphans++
		}
		if c := rs.facts(a.DiskID).ctrl; c >= 0 {
			rs.sums.perCtrl[c]++
		}
	}
	return rs
}

// share returns a copy of rs; both copy sums before their next change.
func (rs *rowSet) share() rowSet {
	if rs.owned {
		rs.owned = false // never written on a cache entry: put clears it
	}
	return *rs
}

// own gives rs sums of its own before a change.
func (rs *rowSet) own() {
	if rs.owned {
		return
	}
	old := rs.sums
	s := &rowSums{active: maps.Clone(old.active), perCtrl: maps.Clone(old.perCtrl), names: old.names,
		nameBits: make(map[string][]uint64, len(old.nameBits)), orphans: old.orphans}
	for p, b := range old.nameBits {
		s.nameBits[p] = slices.Clone(b)
	}
	if old.alloc != nil {
		s.alloc = old.alloc.Fork()
	} else if a, keep, err := rs.buildAllocator(); err == nil && keep {
		// Built once here, then kept in step: the cache entry this
		// becomes carries it to the next command.
		s.alloc = a
	}
	rs.sums, rs.owned = s, true
}

// device returns the disk device (or CD-ROM) id.
func (rs *rowSet) device(id string) (model.VmDevice, bool) { return rs.diskDevs.Get(id) }

// attachment returns the attachment of disk id.
func (rs *rowSet) attachment(id string) (model.DiskAttachment, bool) { return rs.atts.Get(id) }

// disk returns the attached disk id (the zero Disk if there is none).
func (rs *rowSet) disk(id string) model.Disk {
	d, _ := rs.disks.Get(id)
	return d
}

// devices yields every device in id order, as the store lists them.
func (rs *rowSet) devices() iter.Seq[model.VmDevice] {
	return func(yield func(model.VmDevice) bool) {
		others := rs.otherDevs.Values()
		for _, d := range rs.diskDevs.All() {
			for len(others) > 0 && others[0].ID < d.ID {
				if !yield(others[0]) {
					return
				}
				others = others[1:]
			}
			if !yield(d) {
				return
			}
		}
		for _, o := range others {
			if !yield(o) {
				return
			}
		}
	}
}

// diskDevices yields the devices of type disk in id order.
func (rs *rowSet) diskDevices() iter.Seq[model.VmDevice] { return values(rs.diskDevs) }

// attachments yields the attachments in disk id order.
func (rs *rowSet) attachments() iter.Seq[model.DiskAttachment] { return values(rs.atts) }

// attachedDisks yields the disks in id order.
func (rs *rowSet) attachedDisks() iter.Seq[model.Disk] { return values(rs.disks) }

func values[V any](m pmap.Map[V]) iter.Seq[V] {
	return func(yield func(V) bool) {
		for _, v := range m.All() {
			if !yield(v) {
				return
			}
		}
	}
}

// lists returns deep copies of the rows in the store's order.
func (rs *rowSet) lists() ([]model.VmDevice, []model.DiskAttachment, []model.Disk) {
	return rs.deviceList(), rs.atts.Values(), rs.diskList()
}

// deviceList returns deep copies of the devices in the store's order.
func (rs *rowSet) deviceList() []model.VmDevice {
	devs := make([]model.VmDevice, 0, rs.diskDevs.Len()+rs.otherDevs.Len())
	for d := range rs.devices() {
		devs = append(devs, cloneDevice(d))
	}
	return devs
}

// diskList returns deep copies of the disks in id order.
func (rs *rowSet) diskList() []model.Disk {
	disks := rs.disks.Values()
	for i := range disks {
		disks[i] = cloneDisk(disks[i])
	}
	return disks
}

// missing is the id of an attached disk without its disk row, or "".
func (rs *rowSet) missing() string {
	if rs.sums.orphans == 0 {
		return ""
	}
	for a := range rs.attachments() {
		if !rs.disks.Has(a.DiskID) {
			return a.DiskID
		}
	}
	return ""
}

// controllers returns the VM's virtio-scsi controller rows by index.
func (rs *rowSet) controllers() []model.VmDevice {
	var out []model.VmDevice
	for _, d := range rs.otherDevs.All() {
		if isSCSIController(d) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Controller.Index < out[j].Controller.Index })
	return out
}

func isSCSIController(d model.VmDevice) bool {
	return d.Type == model.DeviceTypeController && d.Device == model.DeviceVirtioSCSI && d.Controller != nil
}

// countActive counts active attachments on an interface.
func (rs *rowSet) countActive(iface model.DiskInterface) int { return rs.sums.active[iface] }

// disksOnController counts the plugged, active, addressed disks (not the
// CD-ROM) on controller index.
func (rs *rowSet) disksOnController(index int) int { return rs.sums.perCtrl[index] }

// nameTaken tells whether a plugged device holds the target dev name.
func (rs *rowSet) nameTaken(name string) bool { return rs.sums.names.Has(name) }

// nextName returns the lowest name with prefix that no plugged device
// holds, counting except as free. libvirt needs target devs unique.
func (rs *rowSet) nextName(prefix, except string) string {
	skip := -1
	if i, err := scsi.DeviceIndex(prefix, except); err == nil {
		skip = i
	}
	b := rs.sums.nameBits[prefix]
	for w := 0; ; w++ {
		var v uint64
		if w < len(b) {
			v = b[w]
		}
		if skip>>6 == w {
			v &^= 1 << (skip & 63)
		}
		if v != ^uint64(0) {
			return scsi.DeviceName(prefix, w<<6+bits.TrailingZeros64(^v))
		}
	}
}

// renamed moves the name count from old's name to d's (either may be nil).
func (rs *rowSet) renamed(old, d *model.VmDevice) {
	on, nn := plugName(old), plugName(d)
	if on == nn {
		return
	}
	s := rs.sums
	if on != "" {
		if c, _ := s.names.Get(on); c > 1 {
			s.names = s.names.Set(on, c-1)
		} else {
			s.names = s.names.Delete(on)
			s.setNameBit(on, false)
		}
	}
	if nn != "" {
		c, _ := s.names.Get(nn)
		s.names = s.names.Set(nn, c+1)
		if c == 0 {
			s.setNameBit(nn, true)
		}
	}
}

// plugName is the name d holds: its target dev while plugged.
func plugName(d *model.VmDevice) string {
	if d == nil || !d.Plugged {
		return ""
	}
	return d.TargetDev
}

func (s *rowSums) setNameBit(name string, on bool) {
	for _, p := range namePrefixes {
		i, err := scsi.DeviceIndex(p, name)
		if err != nil {
			continue
		}
		b, w := s.nameBits[p], i>>6
		if on {
			if w >= len(b) {
				b = append(b, make([]uint64, w+1-len(b))...)
			}
			b[w] |= 1 << (i & 63)
		} else if w < len(b) {
			b[w] &^= 1 << (i & 63)
		}
		s.nameBits[p] = b
	}
}

// diskFacts is what the sums take from one disk id's device and
// attachment rows together.
type diskFacts struct {
	slot    scsi.Slot // the allocator's slot, if hasSlot
	hasSlot bool
	ctrl    int // the controller a plugged, active, addressed disk counts on, or -1
}

func (rs *rowSet) facts(id string) diskFacts {
	f := diskFacts{ctrl: -1}
	dev, ok := rs.diskDevs.Get(id)
	if !ok {
		return f
	}
	if id == CDROMID {
		if dev.Address != nil {
			f.slot, f.hasSlot = scsi.Slot{ID: id, Addr: dev.Address, Plugged: dev.Plugged}, true
		}
		return f
	}
	a, ok := rs.atts.Get(id)
	if !ok {
		return f
	}
	if a.Interface == model.InterfaceVirtIOSCSI {
		f.slot, f.hasSlot = scsi.Slot{ID: id, Addr: dev.Address, Plugged: dev.Plugged, Boot: a.Bootable}, true
	}
	if dev.Plugged && dev.Address != nil && a.Active {
		f.ctrl = int(dev.Address.Controller)
	}
	return f
}

func sameSlot(x, y diskFacts) bool {
	if x.hasSlot != y.hasSlot {
		return false
	}
	a, b := x.slot, y.slot
	return a.ID == b.ID && a.Plugged == b.Plugged && a.Boot == b.Boot &&
		(a.Addr == nil) == (b.Addr == nil) && (a.Addr == nil || *a.Addr == *b.Addr)
}

// changeDisk applies change, which changes id's disk device or attachment
// row, and the sums that follow from the two together.
func (rs *rowSet) changeDisk(id string, change func()) {
	rs.own()
	before := rs.facts(id)
	change()
	after := rs.facts(id)
	s := rs.sums
	if before.ctrl != after.ctrl {
		if before.ctrl >= 0 {
			if s.perCtrl[before.ctrl]--; s.perCtrl[before.ctrl] == 0 {
				delete(s.perCtrl, before.ctrl)
			}
		}
		if after.ctrl >= 0 {
			s.perCtrl[after.ctrl]++
		}
	}
	if s.alloc == nil || sameSlot(before, after) {
		return
	}
	if before.hasSlot && s.alloc.Remove(id) != nil {
		s.alloc = nil
		return
	}
	if after.hasSlot && s.alloc.Load(after.slot) != nil {
		s.alloc = nil // NewAllocator decides, on need
	}
}

// setDevice puts a device row in, replacing the one with its id.
func (rs *rowSet) setDevice(d model.VmDevice) {
	d = cloneDevice(d)
	old, ok := rs.anyDevice(d.ID)
	rs.changeDisk(d.ID, func() { rs.putDevice(d) })
	if ok {
		rs.renamed(&old, &d)
	} else {
		rs.renamed(nil, &d)
	}
	if (ok && isSCSIController(old)) || isSCSIController(d) {
		rs.sums.alloc = nil // built again for the new controllers
	}
}

// deleteDevice removes the device row id.
func (rs *rowSet) deleteDevice(id string) {
	old, ok := rs.anyDevice(id)
	if !ok {
		return
	}
	rs.changeDisk(id, func() {
		rs.diskDevs, rs.otherDevs = rs.diskDevs.Delete(id), rs.otherDevs.Delete(id)
	})
	rs.renamed(&old, nil)
	if isSCSIController(old) {
		rs.sums.alloc = nil
	}
}

func (rs *rowSet) anyDevice(id string) (model.VmDevice, bool) {
	if d, ok := rs.diskDevs.Get(id); ok {
		return d, true
	}
	return rs.otherDevs.Get(id)
}

func (rs *rowSet) putDevice(d model.VmDevice) {
	if d.Type == model.DeviceTypeDisk {
		if rs.otherDevs.Has(d.ID) {
			rs.otherDevs = rs.otherDevs.Delete(d.ID)
		}
		rs.diskDevs = rs.diskDevs.Set(d.ID, d)
		return
	}
	if rs.diskDevs.Has(d.ID) {
		rs.diskDevs = rs.diskDevs.Delete(d.ID)
	}
	rs.otherDevs = rs.otherDevs.Set(d.ID, d)
}

// setAttachment puts an attachment in, replacing the one of its disk.
func (rs *rowSet) setAttachment(a model.DiskAttachment) {
	old, ok := rs.atts.Get(a.DiskID)
	rs.changeDisk(a.DiskID, func() { rs.atts = rs.atts.Set(a.DiskID, a) })
	s := rs.sums
	if ok && old.Active {
		s.active[old.Interface]--
	}
	if a.Active {
		s.active[a.Interface]++
	}
	if !ok && !rs.disks.Has(a.DiskID) {
		s.orphans++
	}
}

// deleteAttachment removes the attachment of disk id.
func (rs *rowSet) deleteAttachment(id string) {
	old, ok := rs.atts.Get(id)
	if !ok {
		return
	}
	rs.changeDisk(id, func() { rs.atts = rs.atts.Delete(id) })
	if old.Active {
		rs.sums.active[old.Interface]--
	}
	if !rs.disks.Has(id) {
		rs.sums.orphans--
	}
}

// setDisk puts a disk row in, replacing the one with its id.
func (rs *rowSet) setDisk(d model.Disk) {
	rs.own()
	if !rs.disks.Has(d.ID) && rs.atts.Has(d.ID) {
		rs.sums.orphans--
	}
	rs.disks = rs.disks.Set(d.ID, cloneDisk(d))
}

// deleteDisk removes the disk row id.
func (rs *rowSet) deleteDisk(id string) {
	if !rs.disks.Has(id) {
		return
	}
	rs.own()
	if rs.atts.Has(id) {
		rs.sums.orphans++
	}
	rs.disks = rs.disks.Delete(id)
}

// allocator returns an address allocator of the rows for the caller to
// change: a fork of the kept one, or one built from the rows.
func (rs *rowSet) allocator() (*scsi.Allocator, error) {
	if a := rs.sums.alloc; a != nil {
		return a.Fork(), nil
	}
	a, keep, err := rs.buildAllocator()
	if err != nil {
		return nil, err
	}
	if keep && rs.owned {
		rs.sums.alloc = a
		return a.Fork(), nil
	}
	return a, nil
}

// buildAllocator builds the allocator from every device row; keep says it
// may be kept and followed row by row (no plugged disk lacks an address).
func (rs *rowSet) buildAllocator() (a *scsi.Allocator, keep bool, err error) {
	var idx []uint16
	for _, c := range rs.controllers() {
		idx = append(idx, uint16(c.Controller.Index))
	}
	var slots []scsi.Slot
	keep = true
	for id := range rs.diskDevs.All() {
		if f := rs.facts(id); f.hasSlot {
			slots = append(slots, f.slot)
			keep = keep && (f.slot.Addr != nil || !f.slot.Plugged)
		}
	}
	a, err = scsi.NewAllocator(scsi.DefaultLayout, idx, slots)
	return a, keep, err
}

func attachmentKey(a model.DiskAttachment) string { return a.DiskID }

func cloneDevice(d model.VmDevice) model.VmDevice {
	if d.Address != nil {
		a := *d.Address
		d.Address = &a
	}
	if d.Controller != nil {
		c := *d.Controller
		d.Controller = &c
	}
	return d
}

func cloneDisks(in []model.Disk) []model.Disk {
	out := make([]model.Disk, len(in))
	for i, d := range in {
		out[i] = cloneDisk(d)
	}
	return out
}

func cloneDisk(d model.Disk) model.Disk {
	if d.LUN != nil {
		l := *d.LUN
		d.LUN = &l
	}
	return d
}
