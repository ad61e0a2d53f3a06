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

// AttachParams are the settable fields of a disk attachment; nil means
// default or unchanged.
type AttachParams struct {
	Interface           *model.DiskInterface
	Bootable            *bool
	PassDiscard         *bool
	ReadOnly            *bool
	UsesSCSIReservation *bool
	Active              *bool
}

func (p AttachParams) apply(a *model.DiskAttachment) {
	for _, f := range []struct {
		dst *bool
		src *bool
	}{{&a.Bootable, p.Bootable}, {&a.PassDiscard, p.PassDiscard}, {&a.ReadOnly, p.ReadOnly},
		{&a.UsesSCSIReservation, p.UsesSCSIReservation}, {&a.Active, p.Active}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if p.Interface != nil {
		a.Interface = *p.Interface
	}
}

// AttachDisk attaches an existing disk to a VM. Active (the default) plugs
// it: into a running VM that is a hot-plug, which must succeed for the
// attachment to stay.
func (e *Engine) AttachDisk(ctx context.Context, vmID, diskID string, p AttachParams) (model.DiskAttachment, error) {
	a, _, err := e.AttachDiskAt(ctx, vmID, diskID, p)
	return a, err
}

// AttachDiskAt is AttachDisk that also returns the drive address the
// disk's device got (nil when it has none), so that the API can answer
// without reading the rows back in another transaction.
func (e *Engine) AttachDiskAt(ctx context.Context, vmID, diskID string, p AttachParams) (model.DiskAttachment, *scsi.DriveAddress, error) {
	const action = apperr.ActionAttach
	a := model.DiskAttachment{VMID: vmID, DiskID: diskID, Interface: model.InterfaceVirtIOSCSI, Active: true}
	p.apply(&a)
	unlock := e.locks.lock(vmID)
	var plug *plugJob
	var addr *scsi.DriveAddress
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, vmID, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, vmID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		d, err := tx.GetDisk(ctx, diskID)
		if err != nil {
			return mapNotFound(err, action, apperr.TypeDisk, diskID)
		}
		if err := e.checkAttachable(ctx, tx, action, s, d); err != nil {
			return err
		}
		s.setDisk(d)
		if err := attachmentRules(action, s, d, a); err != nil {
			return err
		}
		if err := checkReservation(ctx, tx, action, d, a); err != nil {
			return err
		}
		running := !s.vm.Status.IsDown()
		if running && a.Active {
			if err := refuseWhileMigrating(s.vm, apperr.ActionHotPlug, apperr.TypeDisk); err != nil {
				return err
			}
			if err := hotPlugRules(apperr.ActionHotPlug, s, a); err != nil {
				return err
			}
		}
		if err := tx.InsertAttachment(ctx, a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apperr.New(apperr.DiskNotShareable, action, apperr.TypeDisk)
			}
			return err
		}
		s.setAttachment(a)
		dev := model.VmDevice{ID: d.ID, VMID: vmID, Type: model.DeviceTypeDisk, Device: deviceKind(d, a),
			Alias: "ua-" + d.ID, Managed: true}
		s.setDevice(dev) // in s only: written once below, reserved and marked
		if a.Active {
			if dev, err = reserveDevice(action, s, d.ID); err != nil {
				return err
			}
			if running {
				plug = &plugJob{vm: s.vm, diskID: d.ID}
				dev.Pending, dev.PendingRun = model.PendingPlug, e.runID // as markPending
			}
		}
		if err := tx.InsertDevice(ctx, dev); err != nil {
			return err
		}
		s.setDevice(dev)
		addr = dev.Address
		if err := e.warnIfCrowded(ctx, tx, s, dev); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ATTACH_DISK_TO_VM", VMID: vmID, DiskID: d.ID,
			Message: fmt.Sprintf("Disk %s was successfully attached to VM %s by %s.", d.Alias, s.vm.Name, Caller(ctx))})
	})
	unlock()
	if err != nil {
		return model.DiskAttachment{}, nil, err
	}
	if plug == nil {
		// The row as committed (the row cache's verifying mode checks that
		// a row written reads back equal): no second transaction to read it.
		return a, addr, nil
	}
	if err := e.runPlug(ctx, *plug, true); err != nil {
		return model.DiskAttachment{}, nil, err
	}
	// A plug that succeeded keeps the address it reserved.
	a, err = e.getAttachment(ctx, vmID, diskID)
	return a, addr, err
}

// checkAttachable: the disk is ready, not already on this VM, and on no
// other VM unless shareable.
func (e *Engine) checkAttachable(ctx context.Context, tx store.Tx, action apperr.Action, s *vmState, d model.Disk) error {
	if d.Status == model.DiskLocked {
		return apperr.New(apperr.DiskIsLocked, action, apperr.TypeDisk, "diskAlias", d.Alias)
	}
	if _, ok := s.attachment(d.ID); ok {
		return apperr.New(apperr.DiskAlreadyAttached, action, apperr.TypeDisk)
	}
	others, err := tx.ListAttachmentsOfDisk(ctx, d.ID)
	if err != nil {
		return err
	}
	if len(others) > 0 && !d.Shareable {
		return apperr.New(apperr.DiskNotShareable, action, apperr.TypeDisk)
	}
	return nil
}

// deviceKind is the vm_device "device" of a disk row: lun for a
// pass-through LUN on virtio-scsi, disk otherwise.
func deviceKind(d model.Disk, a model.DiskAttachment) string {
	if d.PassThrough() && a.Interface == model.InterfaceVirtIOSCSI {
		return model.DeviceLUN
	}
	return model.DeviceDisk
}

func (e *Engine) getAttachment(ctx context.Context, vmID, diskID string) (model.DiskAttachment, error) {
	var a model.DiskAttachment
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = tx.GetAttachment(ctx, vmID, diskID)
		return err
	})
	return a, err
}

// reservePlug marks a disk's device plugged with a name and, on
// virtio-scsi, a drive address, after checking the VM's limits. The
// database's unique index backs the allocator: two plugged devices never
// share an address even if this code were wrong.
func (e *Engine) reservePlug(ctx context.Context, tx store.Tx, action apperr.Action, s *vmState, diskID string) error {
	dev, err := reserveDevice(action, s, diskID)
	if err != nil {
		return err
	}
	if err := tx.UpdateDevice(ctx, dev); err != nil {
		return err
	}
	s.setDevice(dev)
	return e.warnIfCrowded(ctx, tx, s, dev)
}

// reserveDevice is reservePlug's decision: the disk's device row plugged,
// named and addressed, for the caller to write (a new attachment inserts
// it so, one statement instead of an insert and two updates).
func reserveDevice(action apperr.Action, s *vmState, diskID string) (model.VmDevice, error) {
	a, _ := s.attachment(diskID)
	// The attachment itself is counted as plugged already; check the others.
	a.Active = false
	s.setAttachment(a)
	if err := plugLimits(action, s, a.Interface); err != nil {
		return model.VmDevice{}, err
	}
	a.Active = true
	s.setAttachment(a)
	dev, _ := s.device(diskID)
	dev.Plugged = true
	if dev.TargetDev == "" || s.rows.nameTaken(dev.TargetDev) {
		dev.TargetDev = s.rows.nextName(devicePrefix(a.Interface), "")
	}
	dev.Address = nil
	if a.Interface == model.InterfaceVirtIOSCSI {
		alloc, err := s.allocator()
		if err != nil {
			return model.VmDevice{}, err
		}
		addr, err := alloc.Plug(diskID, a.Bootable)
		if err != nil {
			return model.VmDevice{}, apperr.New(apperr.ExceededMaxVirtIOSCSIDisks, action, apperr.TypeDisk)
		}
		dev.Address = &addr
	}
	return dev, nil
}
