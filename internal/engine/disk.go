package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// DiskParams are the settable fields of a disk; nil means default or
// unchanged.
type DiskParams struct {
	Alias           *string
	Description     *string
	Format          *model.DiskFormat
	ProvisionedSize *int64
	StorageDomainID *string
	LUN             *model.ISCSILun
	Shareable       *bool
	SGIO            *model.ScsiGenericIO
	// SCSIPolicy names the pass-through LUN's SCSI command policy:
	// filtered, unfiltered (both set SGIO too) or a custom one.
	SCSIPolicy      *string
	PropagateErrors *bool
}

func (p DiskParams) apply(d *model.Disk) {
	if p.Alias != nil {
		d.Alias = *p.Alias
	}
	if p.Description != nil {
		d.Description = *p.Description
	}
	if p.Format != nil {
		d.Format = *p.Format
	}
	if p.ProvisionedSize != nil {
		d.ProvisionedSize = *p.ProvisionedSize
	}
	if p.StorageDomainID != nil {
		d.StorageDomainID = *p.StorageDomainID
	}
	if p.Shareable != nil {
		d.Shareable = *p.Shareable
	}
	if p.SGIO != nil {
		d.SGIO = *p.SGIO
		d.SCSIPolicy = "" // an sgio value names a built-in policy
	}
	if p.PropagateErrors != nil {
		d.PropagateErrors = *p.PropagateErrors
	}
}

// MaxDiskSize bounds provisioned sizes (qemu-img's practical limit).
const MaxDiskSize = 1 << 50

func validateDisk(action apperr.Action, d model.Disk) error {
	typ := apperr.TypeDisk
	if d.Alias == "" || len(d.Alias) > 255 || strings.ContainsAny(d.Alias, "\x00\n/") {
		return apperr.New(apperr.NameInvalid, action, typ, "name", d.Alias)
	}
	if err := sgioRules(action, d); err != nil {
		return err
	}
	if d.IsLUN() {
		if d.StorageDomainID != "" || d.ProvisionedSize != 0 || d.Format != "" {
			return badParam(action, typ, "A direct LUN has no storage domain, format or provisioned size.")
		}
		l := d.LUN
		if l == nil || l.Address == "" || l.Target == "" || l.Port < 1 || l.Port > 65535 || l.LunMapping < 0 || l.LunMapping > 16383 {
			return badParam(action, typ, "A direct LUN needs an address, a port, a target and a LUN number.")
		}
		if strings.ContainsAny(l.Address+l.Target, " /\x00") {
			return badParam(action, typ, "The LUN's address or target is not valid.")
		}
		return nil
	}
	if d.Format != model.FormatCow && d.Format != model.FormatRaw {
		return badParam(action, typ, "The disk format must be cow or raw.")
	}
	if d.ProvisionedSize <= 0 || d.ProvisionedSize > MaxDiskSize {
		return badParam(action, typ, "The provisioned size must be between 1 byte and 1 PiB.")
	}
	if d.StorageDomainID == "" {
		return badParam(action, typ, "An image disk needs a storage domain.")
	}
	if d.Shareable && d.Format != model.FormatRaw {
		return apperr.New(apperr.ShareableNotForCow, action, typ)
	}
	return nil
}

// AddDisk creates a floating disk. An image disk is created on a host of
// its storage domain's data center (locked while that runs, then ok); a
// direct LUN only records where the LUN is.
func (e *Engine) AddDisk(ctx context.Context, p DiskParams) (model.Disk, error) {
	const action = apperr.ActionAdd
	d, err := e.newDisk(p)
	if err != nil {
		return model.Disk{}, err
	}
	var sd model.StorageDomain
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		if err := resolveDiskPolicy(ctx, tx, action, &d, p.SCSIPolicy); err != nil {
			return err
		}
		if !d.IsLUN() {
			var err error
			if sd, err = tx.GetStorageDomain(ctx, d.StorageDomainID); err != nil {
				return mapNotFound(err, action, apperr.TypeStorageDomain, d.StorageDomainID)
			}
			d.Status = model.DiskLocked
		}
		if err := tx.InsertDisk(ctx, d); err != nil {
			if errors.Is(err, store.ErrConflict) && d.IsLUN() {
				return apperr.New(apperr.LUNInUse, action, apperr.TypeDisk)
			}
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_DISK", DiskID: d.ID,
			Message: fmt.Sprintf("Add-Disk operation of %s was initiated by %s.", d.Alias, Caller(ctx))})
	})
	if err != nil || d.IsLUN() {
		return d, err
	}
	return e.createVolume(ctx, d, sd)
}

// newDisk builds and validates a disk from parameters, without storing it.
func (e *Engine) newDisk(p DiskParams) (model.Disk, error) {
	d := model.Disk{ID: e.newID(), StorageType: model.StorageImage, Format: model.FormatCow, Status: model.DiskOK, CreatedAt: e.now()}
	if p.LUN != nil {
		d.StorageType, d.Format = model.StorageLUN, ""
		lun := *p.LUN
		d.LUN = &lun
	}
	p.apply(&d)
	return d, validateDisk(apperr.ActionAdd, d)
}

// AddDiskAndAttach creates a disk and attaches it to a VM in one request,
// as POST /vms/{id}/diskattachments with a new disk does. The attachment is
// checked against the VM before the disk is created, so a refused attach
// never reaches a host; if the attach still fails, the new disk goes again.
func (e *Engine) AddDiskAndAttach(ctx context.Context, vmID string, dp DiskParams, ap AttachParams) (model.DiskAttachment, error) {
	const action = apperr.ActionAdd
	d, err := e.newDisk(dp)
	if err != nil {
		return model.DiskAttachment{}, err
	}
	a := model.DiskAttachment{VMID: vmID, DiskID: d.ID, Interface: model.InterfaceVirtIOSCSI, Active: true}
	ap.apply(&a)
	err = e.st.View(ctx, func(tx store.Tx) error {
		s, err := e.loadVM(ctx, tx, vmID, action, apperr.TypeDisk)
		if err != nil {
			return err
		}
		s.setDisk(d)
		if err := attachmentRules(action, s, d, a); err != nil {
			return err
		}
		if !a.Active {
			return nil
		}
		if !s.vm.Status.IsDown() {
			if err := hotPlugRules(apperr.ActionHotPlug, s, a); err != nil {
				return err
			}
		}
		return plugLimits(action, s, a.Interface)
	})
	if err != nil {
		return model.DiskAttachment{}, err
	}
	created, err := e.AddDisk(ctx, dp)
	if err != nil {
		return model.DiskAttachment{}, err
	}
	att, err := e.AttachDisk(ctx, vmID, created.ID, ap)
	if err != nil {
		// A failed hot-plug keeps the new attachment inactive: undo it too.
		if derr := e.DetachDisk(ctx, vmID, created.ID, true); derr != nil {
			if rerr := e.RemoveDisk(ctx, created.ID); rerr != nil {
				e.log.Warn("removing a disk whose attach failed", "disk", created.ID, "err", rerr)
			}
		}
		return model.DiskAttachment{}, err
	}
	return att, nil
}

// createVolume asks a host to create the image, then marks the disk ok, or
// removes it again when no host could, so a failed add leaves nothing.
func (e *Engine) createVolume(ctx context.Context, d model.Disk, sd model.StorageDomain) (model.Disk, error) {
	h, err := e.hostForDataCenter(ctx, sd.DataCenterID)
	if err == nil {
		_, err = h.CreateVolume(ctx, volumeOf(d, sd))
		if err != nil {
			err = apperr.New(apperr.HostCallFailed, apperr.ActionAdd, apperr.TypeDisk, "detail", err.Error())
		}
	}
	final := e.st.Tx(ctx, func(tx store.Tx) error {
		if err != nil {
			return deleteWithPermissions(ctx, tx, store.ObjectDisk, d.ID, tx.DeleteDisk)
		}
		d.Status = model.DiskOK
		if err := tx.UpdateDisk(ctx, d); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_DISK_FINISHED_SUCCESS", DiskID: d.ID,
			Message: fmt.Sprintf("The disk %s was successfully added.", d.Alias)})
	})
	if err != nil {
		return model.Disk{}, err
	}
	return d, final
}
