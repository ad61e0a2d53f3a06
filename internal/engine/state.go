package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// vmState is one VM with everything commands on it look at, loaded inside
// the command's transaction after the VM's lock is taken.
type vmState struct {
	vm          model.VM
	cluster     model.Cluster
	devices     []model.VmDevice
	attachments []model.DiskAttachment
	// devices and attachments may be shared with the row cache: call
	// ownRows before changing them. disks too: change them with setDisk.
	rowsShared  bool
	disks       map[string]model.Disk
	disksShared bool
	// idx finds attachments and disk devices by disk id; see index.
	idx rowIndex
}

// rowIndex maps disk ids to their positions in vmState's slices, so that
// lookups are O(1) instead of a scan each (which made a command on a VM
// with n disks O(n²)). Commands only append to those slices or replace a
// row in place by one with the same id, so an index of the first n rows
// stays true: rows appended since go into a small private overlay, and the
// base maps, which may be the row cache's (shared by every command loaded
// from the same rows), are never written. Every hit is still checked, and
// a wrong one rebuilds the index from the slices.
type rowIndex struct {
	atts, devs       map[string]int // the first nAtts / nDevs rows; read only
	attsAdd, devsAdd map[string]int // rows appended after those
	nAtts, nDevs     int
	builtA, builtD   bool
}

// notFound is the fault for a missing object.
func notFound(action apperr.Action, typ apperr.Type, id string) error {
	return apperr.New(apperr.ObjectNotFound, action, typ, "id", id)
}

// mapNotFound turns a store miss into the user-facing fault.
func mapNotFound(err error, action apperr.Action, typ apperr.Type, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(action, typ, id)
	}
	return err
}

// lockVM takes the VM's lock in this process and in the database.
func (e *Engine) lockVM(ctx context.Context, tx store.Tx, id string, action apperr.Action) error {
	if err := tx.LockVM(ctx, id); err != nil {
		return mapNotFound(err, action, apperr.TypeVM, id)
	}
	return nil
}

func (e *Engine) loadVM(ctx context.Context, tx store.Tx, id string, action apperr.Action, typ apperr.Type) (*vmState, error) {
	vm, err := tx.GetVM(ctx, id)
	if err != nil {
		return nil, mapNotFound(err, action, apperr.TypeVM, id)
	}
	s := &vmState{vm: vm}
	if s.cluster, err = tx.GetCluster(ctx, vm.ClusterID); err != nil {
		return nil, fmt.Errorf("cluster of vm %s: %w", vm.Name, err)
	}
	if c, ok := tx.(*cachingTx); ok {
		// The row cache's lists, disks and index, shared until a command
		// changes them (ownRows, setDisk): no copy or scan of the VM's
		// rows per load.
		v, err := c.loadShared(ctx, id)
		if err != nil {
			return nil, err
		}
		if v.missing != "" {
			return nil, fmt.Errorf("disk %s of vm %s: %w", v.missing, vm.Name, store.ErrNotFound)
		}
		s.devices, s.attachments, s.rowsShared = v.devices, v.attachments, v.shared
		s.disks, s.disksShared, s.idx = v.disks, true, v.idx
		return s, nil
	}
	if s.devices, err = tx.ListDevicesOfVM(ctx, id); err != nil {
		return nil, err
	}
	if s.attachments, err = tx.ListAttachmentsOfVM(ctx, id); err != nil {
		return nil, err
	}
	if s.disks, s.disksShared, err = sharedDisksOfVM(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("disks of vm %s: %w", vm.Name, err)
	}
	if missing := missingDisk(s.attachments, s.disks); missing != "" {
		return nil, fmt.Errorf("disk %s of vm %s: %w", missing, vm.Name, store.ErrNotFound)
	}
	return s, nil
}

// missingDisk is the id of an attached disk that is not in disks, or "".
func missingDisk(atts []model.DiskAttachment, disks map[string]model.Disk) string {
	for _, a := range atts {
		if _, ok := disks[a.DiskID]; !ok {
			return a.DiskID
		}
	}
	return ""
}

// ownRows gives s lists of its own before a command changes them: loaded
// from the row cache they are shared.
func (s *vmState) ownRows() {
	if s.rowsShared {
		s.devices, s.attachments, s.rowsShared = cloneDevices(s.devices), slices.Clone(s.attachments), false
	}
}

// disksOfVM loads the disks attached to a VM by id, in one query. The map
// may be the row cache's: read it only.
func disksOfVM(ctx context.Context, tx store.Tx, vmID string) (map[string]model.Disk, error) {
	m, _, err := sharedDisksOfVM(ctx, tx, vmID)
	return m, err
}

// sharedDisksOfVM is disksOfVM that says whether the map is shared. A
// hot-plug into a VM with 16,000 disks loaded the VM three times, and
// copying its disks into a new map each time was a third of its cost.
func sharedDisksOfVM(ctx context.Context, tx store.Tx, vmID string) (map[string]model.Disk, bool, error) {
	if c, ok := tx.(*cachingTx); ok {
		m, err := c.sharedDisksOfVM(ctx, vmID)
		return m, true, err
	}
	list, err := tx.ListDisksOfVM(ctx, vmID)
	if err != nil {
		return nil, false, err
	}
	out := make(map[string]model.Disk, len(list))
	for _, d := range list {
		out[d.ID] = d
	}
	return out, false, nil
}

// setDisk puts a disk in s.disks, copying the map first if it is shared.
func (s *vmState) setDisk(d model.Disk) {
	if s.disksShared {
		s.disks, s.disksShared = maps.Clone(s.disks), false
	}
	s.disks[d.ID] = d
}

// controllers returns the VM's virtio-scsi controller rows by index.
func (s *vmState) controllers() []model.VmDevice {
	var out []model.VmDevice
	for _, d := range s.devices {
		if d.Type == model.DeviceTypeController && d.Device == model.DeviceVirtioSCSI && d.Controller != nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Controller.Index < out[j].Controller.Index })
	return out
}

// virtioSCSIEnabled is oVirt's definition: the VM has a controller row.
func (s *vmState) virtioSCSIEnabled() bool { return len(s.controllers()) > 0 }

func (s *vmState) device(id string) (model.VmDevice, bool) {
	if i := s.deviceAt(id); i >= 0 {
		return s.devices[i], true
	}
	return model.VmDevice{}, false
}

// deviceAt is the position of the disk device id in s.devices, or -1.
func (s *vmState) deviceAt(id string) int {
	ix := &s.idx
	if !ix.builtD || len(s.devices) < ix.nDevs {
		ix.devs, ix.devsAdd, ix.nDevs, ix.builtD = indexDiskDevices(s.devices), nil, len(s.devices), true
	}
	for ; ix.nDevs < len(s.devices); ix.nDevs++ {
		if d := s.devices[ix.nDevs]; d.Type == model.DeviceTypeDisk {
			if ix.devsAdd == nil {
				ix.devsAdd = map[string]int{}
			}
			ix.devsAdd[d.ID] = ix.nDevs
		}
	}
	i, ok := ix.devsAdd[id]
	if !ok {
		i, ok = ix.devs[id]
	}
	switch {
	case !ok:
		return -1
	case s.devices[i].ID == id && s.devices[i].Type == model.DeviceTypeDisk:
		return i
	}
	ix.builtD = false // a wrong hit: rebuilt from the slice, the next is right
	return s.deviceAt(id)
}

func (s *vmState) attachment(diskID string) (model.DiskAttachment, bool) {
	if i := s.attachmentAt(diskID); i >= 0 {
		return s.attachments[i], true
	}
	return model.DiskAttachment{}, false
}

// attachmentAt is the position of the disk's attachment in s.attachments,
// or -1.
func (s *vmState) attachmentAt(diskID string) int {
	ix := &s.idx
	if !ix.builtA || len(s.attachments) < ix.nAtts {
		ix.atts, ix.attsAdd, ix.nAtts, ix.builtA = indexAttachments(s.attachments), nil, len(s.attachments), true
	}
	for ; ix.nAtts < len(s.attachments); ix.nAtts++ {
		if ix.attsAdd == nil {
			ix.attsAdd = map[string]int{}
		}
		ix.attsAdd[s.attachments[ix.nAtts].DiskID] = ix.nAtts
	}
	i, ok := ix.attsAdd[diskID]
	if !ok {
		i, ok = ix.atts[diskID]
	}
	switch {
	case !ok:
		return -1
	case s.attachments[i].DiskID == diskID:
		return i
	}
	ix.builtA = false
	return s.attachmentAt(diskID)
}

// indexDiskDevices maps the ids of disk devices to their positions. The
// maps of a rowIndex are never changed once built, so one built for the
// row cache's lists serves every vmState loaded from them.
func indexDiskDevices(devs []model.VmDevice) map[string]int {
	m := make(map[string]int, len(devs))
	for i, d := range devs {
		if d.Type == model.DeviceTypeDisk {
			m[d.ID] = i
		}
	}
	return m
}

// indexAttachments maps disk ids to their attachments' positions.
func indexAttachments(atts []model.DiskAttachment) map[string]int {
	m := make(map[string]int, len(atts))
	for i, a := range atts {
		m[a.DiskID] = i
	}
	return m
}

// pluggedNames returns the target devs plugged devices hold.
func (s *vmState) pluggedNames() map[string]bool {
	used := map[string]bool{}
	for _, d := range s.devices {
		if d.Plugged && d.TargetDev != "" {
			used[d.TargetDev] = true
		}
	}
	return used
}

// countPlugged counts plugged disk attachments on an interface.
func (s *vmState) countPlugged(iface model.DiskInterface) int {
	n := 0
	for _, a := range s.attachments {
		if a.Active && a.Interface == iface {
			n++
		}
	}
	return n
}

// pciDevices counts what the VM puts on the PCI bus when it runs.
func (s *vmState) pciDevices() PCIDevices {
	return PCIDevices{
		SCSIControllers: len(s.controllers()),
		VirtIOBlk:       s.countPlugged(model.InterfaceVirtIO),
		VirtioSerial:    true, // the guest agent channel
	}
}

// deleteWithPermissions deletes an object and the permissions granted on
// it, which the database cannot cascade (object ids are not foreign keys).
func deleteWithPermissions(ctx context.Context, tx store.Tx, typ store.ObjectType, id string, del func(context.Context, string) error) error {
	if err := del(ctx, id); err != nil {
		return err
	}
	_, err := tx.DeletePermissionsOnObject(ctx, typ, id)
	return err
}
