package engine

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// vmHost returns the agent of the host a VM runs on.
func (e *Engine) vmHost(ctx context.Context, vm model.VM) (Host, error) {
	if vm.HostID == "" || e.hosts == nil {
		return nil, fmt.Errorf("vm %s runs on no known host", vm.Name)
	}
	return e.hosts.Host(ctx, vm.HostID)
}

// finishPlug records what the host did with a plug or unplug.
func (e *Engine) finishPlug(ctx context.Context, j plugJob, plug bool, hostErr error) error {
	action := apperr.ActionHotUnplug
	if plug {
		action = apperr.ActionHotPlug
	}
	unlock := e.locks.lock(j.vm.ID)
	defer unlock()
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, j.vm.ID, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, j.vm.ID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		a, ok := s.attachment(j.diskID)
		dev, okDev := s.device(j.diskID)
		if !ok || !okDev {
			return nil // detached meanwhile
		}
		alias := s.disk(j.diskID).Alias
		dev.Pending, dev.PendingRun = model.PendingNone, ""
		// Success of a plug, failure of an unplug: the disk stays plugged.
		if (hostErr == nil) == plug {
			if err := tx.UpdateDevice(ctx, dev); err != nil {
				return err
			}
			if hostErr != nil {
				return e.audit(ctx, tx, model.AuditEvent{Code: "USER_FAILED_HOTUNPLUG_DISK", Severity: "error", VMID: j.vm.ID, DiskID: j.diskID,
					Message: fmt.Sprintf("Failed to unplug disk %s from VM %s: %v", alias, s.vm.Name, hostErr)})
			}
			return nil
		}
		a.Active, dev.Plugged = false, false
		a.LogicalName = ""
		if err := tx.UpdateAttachment(ctx, a); err != nil {
			return err
		}
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		if hostErr != nil {
			return e.audit(ctx, tx, model.AuditEvent{Code: "USER_FAILED_HOTPLUG_DISK", Severity: "error", VMID: j.vm.ID, DiskID: j.diskID,
				Message: fmt.Sprintf("Failed to plug disk %s to VM %s: %v", alias, s.vm.Name, hostErr)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if hostErr != nil {
		return apperr.New(apperr.HostCallFailed, action, apperr.TypeDisk, "detail", hostErr.Error())
	}
	return nil
}

// DetachDisk removes a disk from a VM, unplugging it from a running guest
// first. With removeDisk the disk itself is deleted too when no other VM
// uses it (oVirt's DELETE without detach_only).
func (e *Engine) DetachDisk(ctx context.Context, vmID, diskID string, removeDisk bool) error {
	const action = apperr.ActionDetach
	a, err := e.getAttachment(ctx, vmID, diskID)
	if err != nil {
		return mapNotFound(err, action, apperr.TypeDisk, diskID)
	}
	if a.Active {
		vm, err := e.getVM(ctx, vmID)
		if err != nil {
			return err
		}
		if !vm.Status.IsDown() {
			if _, err := e.HotUnplug(ctx, vmID, diskID); err != nil {
				return err
			}
		}
	}
	unlock := e.locks.lock(vmID)
	var removed *model.Disk
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, vmID, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, vmID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		a, ok := s.attachment(diskID)
		if !ok {
			return apperr.New(apperr.DiskNotAttached, action, apperr.TypeDisk)
		}
		if a.Active && !s.vm.Status.IsDown() {
			return apperr.New(apperr.VMIsNotDown, action, apperr.TypeDisk) // plugged again meanwhile
		}
		if err := tx.DeleteDevice(ctx, vmID, diskID); err != nil {
			return err
		}
		if err := tx.DeleteAttachment(ctx, vmID, diskID); err != nil {
			return err
		}
		d := s.disk(diskID)
		if err := e.audit(ctx, tx, model.AuditEvent{Code: "USER_DETACH_DISK_FROM_VM", VMID: vmID, DiskID: diskID,
			Message: fmt.Sprintf("Disk %s was successfully detached from VM %s by %s.", d.Alias, s.vm.Name, Caller(ctx))}); err != nil {
			return err
		}
		if removeDisk {
			others, err := tx.ListAttachmentsOfDisk(ctx, diskID)
			if err != nil || len(others) > 0 {
				return err
			}
			if err := deleteWithPermissions(ctx, tx, store.ObjectDisk, diskID, tx.DeleteDisk); err != nil {
				return err
			}
			removed = &d
		}
		return nil
	})
	unlock()
	if err == nil && removed != nil && !removed.IsLUN() {
		e.removeVolumes(ctx, []model.Disk{*removed})
	}
	return err
}

func (e *Engine) getVM(ctx context.Context, id string) (model.VM, error) {
	var vm model.VM
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		vm, err = tx.GetVM(ctx, id)
		return mapNotFound(err, apperr.ActionUpdate, apperr.TypeVM, id)
	})
	return vm, err
}
