package engine

import (
	"context"
	"errors"
	"fmt"
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
	disks       map[string]model.Disk
	// idx finds attachments and disk devices by disk id; see index.
	idx rowIndex
}

// rowIndex maps disk ids to their positions in vmState's slices. Commands
// append to and replace in those slices directly, so the index checks each
// hit and rebuilds itself when a slice's length changed or a hit is stale:
// lookups stay O(1) amortised instead of a scan per lookup, which made a
// command on a VM with n disks O(n²).
type rowIndex struct {
	atts, devs     map[string]int
	nAtts, nDevs   int
	builtA, builtD bool
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
	if s.devices, err = tx.ListDevicesOfVM(ctx, id); err != nil {
		return nil, err
	}
	if s.attachments, err = tx.ListAttachmentsOfVM(ctx, id); err != nil {
		return nil, err
	}
	if s.disks, err = disksOfVM(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("disks of vm %s: %w", vm.Name, err)
	}
	for _, a := range s.attachments {
		if _, ok := s.disks[a.DiskID]; !ok {
			return nil, fmt.Errorf("disk %s of vm %s: %w", a.DiskID, vm.Name, store.ErrNotFound)
		}
	}
	return s, nil
}

// disksOfVM loads the disks attached to a VM by id, in one query.
func disksOfVM(ctx context.Context, tx store.Tx, vmID string) (map[string]model.Disk, error) {
	list, err := tx.ListDisksOfVM(ctx, vmID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]model.Disk, len(list))
	for _, d := range list {
		out[d.ID] = d
	}
	return out, nil
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
	for rebuilt := false; ; rebuilt = true {
		if !ix.builtD || ix.nDevs != len(s.devices) {
			ix.devs = make(map[string]int, len(s.devices))
			for i, d := range s.devices {
				if d.Type == model.DeviceTypeDisk {
					ix.devs[d.ID] = i
				}
			}
			ix.nDevs, ix.builtD = len(s.devices), true
			rebuilt = true
		}
		i, ok := ix.devs[id]
		if ok && s.devices[i].ID == id && s.devices[i].Type == model.DeviceTypeDisk {
			return i
		}
		if rebuilt {
			return -1
		}
		ix.builtD = false // a stale hit: a row was replaced in place
	}
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
	for rebuilt := false; ; rebuilt = true {
		if !ix.builtA || ix.nAtts != len(s.attachments) {
			ix.atts = make(map[string]int, len(s.attachments))
			for i, a := range s.attachments {
				ix.atts[a.DiskID] = i
			}
			ix.nAtts, ix.builtA = len(s.attachments), true
			rebuilt = true
		}
		i, ok := ix.atts[diskID]
		if ok && s.attachments[i].DiskID == diskID {
			return i
		}
		if rebuilt {
			return -1
		}
		ix.builtA = false
	}
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
