package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/store"
)

// UpdateDisk changes a disk's alias, description, shareability, SG_IO mode
// or error propagation. Shareability and SG_IO change what the guest sees,
// so they need every VM using the disk down, as in oVirt.
func (e *Engine) UpdateDisk(ctx context.Context, id string, p DiskParams) (model.Disk, error) {
	const action = apperr.ActionUpdate
	if p.Format != nil || p.ProvisionedSize != nil || p.StorageDomainID != nil || p.LUN != nil {
		return model.Disk{}, badParam(action, apperr.TypeDisk, "Only alias, description, shareable, sgio, scsi_policy and propagate_errors can be changed.")
	}
	var out model.Disk
	var pushed func() // puts the old policy back if the change is not stored
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.GetDisk(ctx, id)
		if err != nil {
			return mapNotFound(err, action, apperr.TypeDisk, id)
		}
		if old.Status == model.DiskLocked {
			return apperr.New(apperr.DiskIsLocked, action, apperr.TypeDisk, "diskAlias", old.Alias)
		}
		d := old
		p.apply(&d)
		if err := validateDisk(action, d); err != nil {
			return err
		}
		if err := resolveDiskPolicy(ctx, tx, action, &d, p.SCSIPolicy); err != nil {
			return err
		}
		atts, err := tx.ListAttachmentsOfDisk(ctx, id)
		if err != nil {
			return err
		}
		// Turning pass-through on or off changes the guest's device; a new
		// SCSI command policy reaches running guests at once.
		if d.Shareable != old.Shareable || d.PassThrough() != old.PassThrough() {
			if err := e.requireVMsDown(ctx, tx, action, atts); err != nil {
				return err
			}
		}
		if err := e.checkAttachmentsStillValid(ctx, tx, action, d, atts); err != nil {
			return err
		}
		if d.PassThrough() && (d.SGIO != old.SGIO || d.SCSIPolicy != old.SCSIPolicy) {
			if pushed, err = e.pushDiskPolicy(ctx, tx, action, old, d); err != nil {
				return err
			}
		}
		if err := tx.UpdateDisk(ctx, d); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apperr.New(apperr.DiskNotShareable, action, apperr.TypeDisk)
			}
			return err
		}
		out = d
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_VM_DISK", DiskID: id,
			Message: fmt.Sprintf("VM disk %s was updated by %s.", d.Alias, Caller(ctx))})
	})
	if err != nil && pushed != nil {
		pushed()
	}
	return out, err
}

// pushDiskPolicy gives the running guests of a pass-through LUN its new
// policy and returns how to undo that.
func (e *Engine) pushDiskPolicy(ctx context.Context, tx store.Tx, action apperr.Action, old, d model.Disk) (func(), error) {
	next, err := effectivePolicy(ctx, tx, d)
	if err != nil {
		return nil, err
	}
	prev, err := effectivePolicy(ctx, tx, old)
	if err != nil {
		return nil, err
	}
	targets, err := liveTargets(ctx, tx, action, apperr.TypeDisk, []string{d.ID})
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	if err := e.pushPolicy(ctx, action, apperr.TypeDisk, targets,
		func(string) scsipolicy.Spec { return next }, func(string) scsipolicy.Spec { return prev }); err != nil {
		return nil, err
	}
	return func() {
		_ = e.pushPolicy(context.WithoutCancel(ctx), action, apperr.TypeDisk, targets,
			func(string) scsipolicy.Spec { return prev }, func(string) scsipolicy.Spec { return next })
	}, nil
}

func (e *Engine) requireVMsDown(ctx context.Context, tx store.Tx, action apperr.Action, atts []model.DiskAttachment) error {
	for _, a := range atts {
		vm, err := tx.GetVM(ctx, a.VMID)
		if err != nil {
			return err
		}
		if !vm.Status.IsDown() {
			return apperr.New(apperr.VMIsNotDown, action, apperr.TypeDisk)
		}
	}
	return nil
}

// checkAttachmentsStillValid re-checks each attachment's rules against the
// changed disk (e.g. SG_IO off while a VM uses SCSI reservation).
func (e *Engine) checkAttachmentsStillValid(ctx context.Context, tx store.Tx, action apperr.Action, d model.Disk, atts []model.DiskAttachment) error {
	if len(atts) > 1 && !d.Shareable {
		return apperr.New(apperr.DiskNotShareable, action, apperr.TypeDisk)
	}
	for _, a := range atts {
		s, err := e.loadVM(ctx, tx, a.VMID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		s.setDisk(d)
		if err := attachmentRules(action, s, d, a); err != nil {
			return err
		}
		if err := checkReservation(ctx, tx, action, d, a); err != nil {
			return err
		}
	}
	return nil
}

// RemoveDisk deletes a disk that no VM uses, and its volume.
func (e *Engine) RemoveDisk(ctx context.Context, id string) error {
	const action = apperr.ActionRemove
	var d model.Disk
	var sd model.StorageDomain
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if d, err = tx.GetDisk(ctx, id); err != nil {
			return mapNotFound(err, action, apperr.TypeDisk, id)
		}
		if d.Status == model.DiskLocked {
			return apperr.New(apperr.DiskIsLocked, action, apperr.TypeDisk, "diskAlias", d.Alias)
		}
		atts, err := tx.ListAttachmentsOfDisk(ctx, id)
		if err != nil {
			return err
		}
		if len(atts) > 0 {
			var names []string
			for _, a := range atts {
				if vm, err := tx.GetVM(ctx, a.VMID); err == nil {
					names = append(names, vm.Name)
				}
			}
			return apperr.New(apperr.DiskIsAttached, action, apperr.TypeDisk, "vms", strings.Join(names, ", "))
		}
		if !d.IsLUN() {
			if sd, err = tx.GetStorageDomain(ctx, d.StorageDomainID); err != nil {
				return err
			}
		}
		if err := deleteWithPermissions(ctx, tx, store.ObjectDisk, id, tx.DeleteDisk); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_REMOVE_DISK", DiskID: id,
			Message: fmt.Sprintf("Disk %s was successfully removed by %s.", d.Alias, Caller(ctx))})
	})
	if err != nil {
		return err
	}
	if !d.IsLUN() {
		e.removeVolume(ctx, d, sd)
	}
	return nil
}
