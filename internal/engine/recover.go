package engine

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// A hot-plug is two transactions around a host call: the first reserves the
// address and marks the device pending, the second (finishPlug) records the
// host's answer and clears the mark. A device still pending that another
// engine process marked (a crash came between the two), or that this process
// gave up on because the host stopped answering, is "interrupted": the next
// report of the VM's live devices finishes or undoes it by what the domain
// really holds, so no disk stays half-attached and no address leaks.

// markPending records, in the reservation's transaction, that a device
// change waits for the host.
func (e *Engine) markPending(ctx context.Context, tx store.Tx, s *vmState, diskID string, op model.PendingOp) error {
	dev, ok := s.device(diskID)
	if !ok {
		return fmt.Errorf("vm %s has no device row for disk %s", s.vm.Name, diskID)
	}
	dev.Pending, dev.PendingRun = op, e.runID
	if err := tx.UpdateDevice(ctx, dev); err != nil {
		return err
	}
	s.setDevice(dev)
	return nil
}

// interrupted tells whether a device's pending change was left by a crash
// or a host that stopped answering, rather than being in flight here.
func (e *Engine) interrupted(d model.VmDevice) bool {
	return d.Pending != model.PendingNone && d.PendingRun != e.runID
}

// leaveInDoubt keeps a plug whose host call got no answer pending, for the
// host's next report to settle, and tells the caller so.
func (e *Engine) leaveInDoubt(ctx context.Context, j plugJob, plug bool, hostErr error) error {
	action, what := apperr.ActionHotUnplug, "unplug"
	if plug {
		action, what = apperr.ActionHotPlug, "plug"
	}
	unlock := e.locks.lock(j.vm.ID)
	defer unlock()
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		dev, err := tx.GetDevice(ctx, j.vm.ID, j.diskID)
		if err != nil {
			return nil // detached meanwhile
		}
		dev.PendingRun = "" // no longer this process's: the next report settles it
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "VM_DEVICE_CHANGE_IN_DOUBT", Severity: "warning", VMID: j.vm.ID, DiskID: j.diskID,
			Message: fmt.Sprintf("The host of VM %s did not answer the %s of disk %s; it will be completed or undone when the host reports again.", j.vm.Name, what, j.diskID)})
	})
	if err != nil {
		return err
	}
	return apperr.New(apperr.HostCallFailed, action, apperr.TypeDisk, "detail",
		fmt.Sprintf("%v; the %s will be completed or undone when the host reports again", hostErr, what))
}

// settleInterrupted finishes or undoes each interrupted change of a running
// VM by whether the live domain has the device (present), unless the host
// is still carrying it out (busy): a plug settled as absent while libvirtd
// was still attaching it would leave the disk in the domain, its name and
// address free in the engine for another disk.
func (e *Engine) settleInterrupted(ctx context.Context, tx store.Tx, s *vmState, present, busy map[string]bool) error {
	for dev := range s.rows.devices() {
		if !e.interrupted(dev) || busy[dev.ID] {
			continue
		}
		op, has := dev.Pending, present[dev.ID]
		dev.Pending, dev.PendingRun = model.PendingNone, ""
		dev.Plugged = has
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		s.setDevice(dev)
		if a, ok := s.attachment(dev.ID); ok && a.Active != has {
			a.Active = has
			if !has {
				a.LogicalName = ""
			}
			if err := tx.UpdateAttachment(ctx, a); err != nil {
				return err
			}
			s.setAttachment(a)
		}
		outcome := "completed"
		if (op == model.PendingPlug) != has {
			outcome = "rolled back"
		}
		verb := "holds"
		if !has {
			verb = "does not hold"
		}
		if err := e.audit(ctx, tx, model.AuditEvent{Code: "VM_DEVICE_CHANGE_SETTLED", Severity: "warning", VMID: s.vm.ID, DiskID: dev.ID,
			Message: fmt.Sprintf("The interrupted %s of disk %s in VM %s was %s: the running VM %s the disk.", op, s.disk(dev.ID).Alias, s.vm.Name, outcome, verb)}); err != nil {
			return err
		}
	}
	return nil
}

// adoptAppeared records as plugged the attached disks the live domain has
// held for several polls although their rows say unplugged, at the live
// address, unless another plugged disk holds that address or name (then the
// next report tries again).
func (e *Engine) adoptAppeared(ctx context.Context, tx store.Tx, s *vmState, live []LiveDisk, appeared []string) error {
	at, names := map[string]*scsi.DriveAddress{}, map[string]string{}
	for _, l := range live {
		at[l.ID], names[l.ID] = l.Address, l.TargetDev
	}
	for _, id := range appeared {
		dev, ok := s.device(id)
		a, okA := s.attachment(id)
		addr, isLive := at[id]
		if !ok || !okA || !isLive || dev.Plugged || dev.Pending != model.PendingNone || addressTaken(s, addr) {
			continue
		}
		// The domain's name for the disk is the one it holds: recording
		// another would hand this one to the next disk plugged.
		if name := names[id]; name != "" {
			if s.rows.nameTaken(name) {
				continue
			}
			dev.TargetDev = name
		}
		dev.Plugged, dev.Address = true, addr
		if s.rows.nameTaken(dev.TargetDev) || dev.TargetDev == "" {
			dev.TargetDev = s.rows.nextName(devicePrefix(a.Interface), "")
		}
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		s.setDevice(dev)
		a.Active = true
		if err := tx.UpdateAttachment(ctx, a); err != nil {
			return err
		}
		s.setAttachment(a)
		if err := e.audit(ctx, tx, model.AuditEvent{Code: "VM_DEVICE_PLUGGED_EXTERNALLY", Severity: "warning", VMID: s.vm.ID, DiskID: id,
			Message: fmt.Sprintf("Disk %s is plugged into the running VM %s although govirt had it unplugged; it is now active.", s.disk(id).Alias, s.vm.Name)}); err != nil {
			return err
		}
	}
	return nil
}

// addressTaken tells whether a plugged device of the VM holds addr.
func addressTaken(s *vmState, addr *scsi.DriveAddress) bool {
	if addr == nil {
		return false
	}
	for d := range s.rows.devices() {
		if d.Plugged && d.Address != nil && *d.Address == *addr {
			return true
		}
	}
	return false
}

// clearPending drops the pending marks of a VM that stopped: a stopped VM
// has no live devices to settle against, and its attachments say what the
// next start plugs.
func clearPending(ctx context.Context, tx store.Tx, vmID string) error {
	devs, err := tx.ListDevicesOfVM(ctx, vmID)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.Pending == model.PendingNone {
			continue
		}
		d.Pending, d.PendingRun = model.PendingNone, ""
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// RecoverAtStart undoes what a crash of the previous engine process left
// half-done outside any VM: image disks still locked (their volume was being
// created) are removed with whatever part of the volume exists. It must run
// before the engine serves requests, when nothing of this process is in
// flight.
func (e *Engine) RecoverAtStart(ctx context.Context) error {
	var locked []model.Disk
	err := e.st.View(ctx, func(tx store.Tx) error {
		disks, err := tx.ListDisks(ctx, store.ListOptions{})
		for _, d := range disks {
			if d.Status == model.DiskLocked {
				locked = append(locked, d)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, d := range locked {
		err := e.st.Tx(ctx, func(tx store.Tx) error {
			if err := deleteWithPermissions(ctx, tx, store.ObjectDisk, d.ID, tx.DeleteDisk); err != nil {
				return err
			}
			return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_DISK_FINISHED_FAILURE", Severity: "warning", DiskID: d.ID,
				Message: fmt.Sprintf("The creation of disk %s was interrupted by an engine restart; the disk was removed.", d.Alias)})
		})
		if err != nil {
			return err
		}
		e.removeVolumes(ctx, []model.Disk{d})
	}
	return nil
}
