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
	s := &vmState{vm: vm, disks: map[string]model.Disk{}}
	if s.cluster, err = tx.GetCluster(ctx, vm.ClusterID); err != nil {
		return nil, fmt.Errorf("cluster of vm %s: %w", vm.Name, err)
	}
	if s.devices, err = tx.ListDevicesOfVM(ctx, id); err != nil {
		return nil, err
	}
	if s.attachments, err = tx.ListAttachmentsOfVM(ctx, id); err != nil {
		return nil, err
	}
	for _, a := range s.attachments {
		d, err := tx.GetDisk(ctx, a.DiskID)
		if err != nil {
			return nil, fmt.Errorf("disk %s of vm %s: %w", a.DiskID, vm.Name, err)
		}
		s.disks[d.ID] = d
	}
	return s, nil
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
	for _, d := range s.devices {
		if d.ID == id && d.Type == model.DeviceTypeDisk {
			return d, true
		}
	}
	return model.VmDevice{}, false
}

func (s *vmState) attachment(diskID string) (model.DiskAttachment, bool) {
	for _, a := range s.attachments {
		if a.DiskID == diskID {
			return a, true
		}
	}
	return model.DiskAttachment{}, false
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
