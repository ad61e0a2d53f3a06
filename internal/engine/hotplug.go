package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/osinfo"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// hotPlugRules: only VirtIO and VirtIO-SCSI disks can be plugged into a
// running guest, and only where its OS handles it.
func hotPlugRules(action apperr.Action, s *vmState, a model.DiskAttachment) error {
	typ := apperr.TypeDisk
	if a.Interface == model.InterfaceIDE {
		return apperr.New(apperr.HotPlugIDENotSupported, action, typ)
	}
	o, ok := osinfo.Lookup(s.vm.OSType)
	if !ok || !o.CanHotPlug(a.Interface) {
		return apperr.New(apperr.HotPlugInterfaceNotSupported, action, typ, "interface", string(a.Interface))
	}
	return nil
}

// plugJob is a hot-plug or hot-unplug reserved in the database and waiting
// for the host.
type plugJob struct {
	vm     model.VM
	diskID string
}

// HotPlug activates an attached disk in a running VM (active=true).
func (e *Engine) HotPlug(ctx context.Context, vmID, diskID string) (model.DiskAttachment, error) {
	return e.UpdateAttachment(ctx, vmID, diskID, AttachParams{Active: ptr(true)})
}

// HotUnplug deactivates a disk (active=false); in a running VM it returns
// once the guest released the device.
func (e *Engine) HotUnplug(ctx context.Context, vmID, diskID string) (model.DiskAttachment, error) {
	return e.UpdateAttachment(ctx, vmID, diskID, AttachParams{Active: ptr(false)})
}

func ptr[T any](v T) *T { return &v }

// UpdateAttachment changes how a disk attaches. Changing active plugs or
// unplugs (live when the VM runs); interface, boot, read-only, discard and
// reservation changes need the VM down.
func (e *Engine) UpdateAttachment(ctx context.Context, vmID, diskID string, p AttachParams) (model.DiskAttachment, error) {
	action := apperr.ActionUpdate
	if p.Active != nil {
		action = apperr.ActionHotUnplug
		if *p.Active {
			action = apperr.ActionHotPlug
		}
	}
	unlock := e.locks.lock(vmID)
	var job *plugJob
	plugging := false
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, vmID, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, vmID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		old, ok := s.attachment(diskID)
		if !ok {
			return apperr.New(apperr.DiskNotAttached, action, apperr.TypeDisk)
		}
		if dev, ok := s.device(diskID); ok && dev.Pending != model.PendingNone {
			// A plug or unplug of this disk waits for its host.
			return apperr.New(apperr.DiskIsLocked, action, apperr.TypeDisk, "diskAlias", s.disk(diskID).Alias)
		}
		a := old
		p.apply(&a)
		running := !s.vm.Status.IsDown()
		if running && a.Active != old.Active {
			if err := refuseWhileMigrating(s.vm, action, apperr.TypeDisk); err != nil {
				return err
			}
		}
		if running && configChanged(old, a) {
			return apperr.New(apperr.VMIsNotDown, action, apperr.TypeDisk)
		}
		if err := attachmentRules(action, s, s.disk(diskID), a); err != nil {
			return err
		}
		if err := checkReservation(ctx, tx, action, s.disk(diskID), a); err != nil {
			return err
		}
		if p.Active != nil && *p.Active == old.Active && (action == apperr.ActionHotPlug || action == apperr.ActionHotUnplug) && running {
			if old.Active {
				return apperr.New(apperr.HotPlugDiskIsNotUnplugged, action, apperr.TypeDisk)
			}
			return apperr.New(apperr.HotUnplugDiskIsNotPlugged, action, apperr.TypeDisk)
		}
		if running && a.Active != old.Active {
			if err := hotPlugRules(action, s, a); err != nil {
				return err
			}
			job, plugging = &plugJob{vm: s.vm, diskID: diskID}, a.Active
		}
		if err := e.applyAttachment(ctx, tx, action, s, old, a, running); err != nil {
			return err
		}
		if job != nil {
			op := model.PendingUnplug
			if plugging {
				op = model.PendingPlug
			}
			if err := e.markPending(ctx, tx, s, diskID, op); err != nil {
				return err
			}
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_DISK_ATTACHMENT", VMID: vmID, DiskID: diskID,
			Message: attachmentMessage(s, diskID, old, a, Caller(ctx))})
	})
	unlock()
	if err != nil {
		return model.DiskAttachment{}, err
	}
	if job != nil {
		if err := e.runPlug(ctx, *job, plugging); err != nil {
			return model.DiskAttachment{}, err
		}
	}
	return e.getAttachment(ctx, vmID, diskID)
}

// configChanged tells whether anything but active changed.
func configChanged(old, a model.DiskAttachment) bool {
	a.Active, a.LogicalName = old.Active, old.LogicalName
	return a != old
}

func attachmentMessage(s *vmState, diskID string, old, a model.DiskAttachment, user string) string {
	alias := s.disk(diskID).Alias
	switch {
	case a.Active && !old.Active:
		return fmt.Sprintf("VM %s disk %s was plugged by %s.", s.vm.Name, alias, user)
	case !a.Active && old.Active:
		return fmt.Sprintf("VM %s disk %s was unplugged by %s.", s.vm.Name, alias, user)
	}
	return fmt.Sprintf("VM %s disk %s attachment was updated by %s.", s.vm.Name, alias, user)
}

// applyAttachment writes an attachment change and plugs or unplugs its
// device row. An unplug in a running VM keeps the device plugged until the
// host confirms the guest released it (runPlug finishes it).
func (e *Engine) applyAttachment(ctx context.Context, tx store.Tx, action apperr.Action, s *vmState, old, a model.DiskAttachment, running bool) error {
	dev, ok := s.device(a.DiskID)
	if !ok {
		return fmt.Errorf("vm %s has no device row for disk %s", s.vm.Name, a.DiskID)
	}
	if a.Interface != old.Interface || a.Bootable != old.Bootable {
		// New interface or boot role: a new name and address, chosen by
		// plugging the device again below.
		dev.Device = deviceKind(s.disk(a.DiskID), a)
		dev.Address, dev.TargetDev, dev.Plugged = nil, "", false
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		s.setDevice(dev)
	}
	unplugLive := running && old.Active && !a.Active
	if unplugLive {
		a.Active = true // stays active until the guest let go
	}
	if err := tx.UpdateAttachment(ctx, a); err != nil {
		return err
	}
	s.setAttachment(a)
	switch {
	case a.Active && (!old.Active || !dev.Plugged || dev.TargetDev == ""):
		return e.reservePlug(ctx, tx, action, s, a.DiskID)
	case !a.Active && dev.Plugged:
		dev.Plugged = false
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		s.setDevice(dev)
	}
	return nil
}

// runPlug asks the VM's host to plug or unplug, then records the outcome. A
// failed plug is undone (the device unplugged, the attachment inactive or,
// for a new attachment, kept inactive); a failed unplug leaves the disk
// active and says why.
func (e *Engine) runPlug(ctx context.Context, j plugJob, plug bool) error {
	action := apperr.ActionHotUnplug
	if plug {
		action = apperr.ActionHotPlug
	}
	var spec vmspec.Disk
	var ctrl *vmspec.Controller
	err := e.st.View(ctx, func(tx store.Tx) error {
		s, err := e.loadVM(ctx, tx, j.vm.ID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		if !plug {
			return nil // an unplug names the disk only
		}
		domains, err := storageDomainOfDisk(ctx, tx, s.disk(j.diskID))
		if err != nil {
			return err
		}
		if spec, ctrl, err = plugSpec(s, j.diskID, domains); err != nil {
			return err
		}
		return withPolicy(ctx, tx, s, &spec)
	})
	if err != nil {
		return err
	}
	h, err := e.vmHost(ctx, j.vm)
	if err == nil {
		if plug {
			err = e.plugOnHost(ctx, h, j.vm.ID, spec, ctrl)
		} else {
			err = h.HotUnplugDisk(ctx, j.vm.ID, j.diskID, 0)
		}
		if errors.Is(err, agent.ErrHostUnreachable) {
			return e.leaveInDoubt(ctx, j, plug, err)
		}
	}
	return e.finishPlug(ctx, j, plug, err)
}

// plugOnHost hot-plugs the disk, first plugging its virtio-scsi controller
// if the running domain lacks it (the seed's open issue: hot-plug into a VM
// that has no SCSI disk yet).
func (e *Engine) plugOnHost(ctx context.Context, h Host, vmID string, d vmspec.Disk, ctrl *vmspec.Controller) error {
	if ctrl != nil {
		if err := h.HotPlugController(ctx, vmID, *ctrl); err != nil {
			return err
		}
	}
	return h.HotPlugDisk(ctx, vmID, d)
}
