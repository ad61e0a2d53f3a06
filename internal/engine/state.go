package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// vmState is one VM with everything commands on it look at, loaded inside
// the command's transaction after the VM's lock is taken. Its rows are a
// version of the row cache's (rowSet): a command changes them with the
// set methods below, which leave the cache's as they are, in O(log n).
type vmState struct {
	vm      model.VM
	cluster model.Cluster
	rows    rowSet
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
	if s.rows, err = rowsOfVM(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("rows of vm %s: %w", vm.Name, err)
	}
	if missing := s.rows.missing(); missing != "" {
		return nil, fmt.Errorf("disk %s of vm %s: %w", missing, vm.Name, store.ErrNotFound)
	}
	return s, nil
}

// rowsOfVM loads a VM's device, attachment and disk rows: from the row
// cache without a copy, or from the store's lists.
func rowsOfVM(ctx context.Context, tx store.Tx, vmID string) (rowSet, error) {
	if c, ok := tx.(*cachingTx); ok {
		return c.loadRows(ctx, vmID)
	}
	devs, err := tx.ListDevicesOfVM(ctx, vmID)
	if err != nil {
		return rowSet{}, err
	}
	atts, err := tx.ListAttachmentsOfVM(ctx, vmID)
	if err != nil {
		return rowSet{}, err
	}
	disks, err := tx.ListDisksOfVM(ctx, vmID)
	if err != nil {
		return rowSet{}, err
	}
	return rowsFromLists(devs, atts, disks), nil
}

// device returns the disk device (or the CD-ROM) id.
func (s *vmState) device(id string) (model.VmDevice, bool) { return s.rows.device(id) }

// attachment returns the attachment of disk id.
func (s *vmState) attachment(diskID string) (model.DiskAttachment, bool) {
	return s.rows.attachment(diskID)
}

// disk returns the attached disk id (the zero Disk if there is none).
func (s *vmState) disk(id string) model.Disk { return s.rows.disk(id) }

// setDevice, setAttachment and setDisk put a row the command wrote (or
// inserted) into s.
func (s *vmState) setDevice(d model.VmDevice)           { s.rows.setDevice(d) }
func (s *vmState) setAttachment(a model.DiskAttachment) { s.rows.setAttachment(a) }
func (s *vmState) setDisk(d model.Disk)                 { s.rows.setDisk(d) }

// controllers returns the VM's virtio-scsi controller rows by index.
func (s *vmState) controllers() []model.VmDevice { return s.rows.controllers() }

// virtioSCSIEnabled is oVirt's definition: the VM has a controller row.
func (s *vmState) virtioSCSIEnabled() bool { return len(s.controllers()) > 0 }

// allocator returns the VM's address allocator, the command's to change.
func (s *vmState) allocator() (*scsi.Allocator, error) { return s.rows.allocator() }

// countPlugged counts plugged disk attachments on an interface.
func (s *vmState) countPlugged(iface model.DiskInterface) int { return s.rows.countActive(iface) }

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
