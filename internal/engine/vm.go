package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// VMParams are the settable fields of a VM. Nil leaves a field at its
// default (AddVM) or unchanged (UpdateVM), as oVirt treats absent elements.
type VMParams struct {
	Name                  *string
	Description           *string
	ClusterID             *string
	TemplateID            *string
	OSType                *string
	MemoryBytes           *int64
	VCPUs                 *int
	IOThreads             *int
	VirtioSCSIMultiQueues *int
	VirtioSCSIEnabled     *bool
	Kernel, Initrd        *string
	Cmdline               *string
}

// Defaults of a new VM.
const (
	DefaultMemoryBytes = 1 << 30
	DefaultVCPUs       = 1
	BlankTemplateID    = "00000000-0000-0000-0000-000000000000"
)

func (p VMParams) apply(vm *model.VM) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&vm.Name, p.Name)
	set(&vm.Description, p.Description)
	set(&vm.ClusterID, p.ClusterID)
	set(&vm.TemplateID, p.TemplateID)
	set(&vm.OSType, p.OSType)
	set(&vm.Kernel, p.Kernel)
	set(&vm.Initrd, p.Initrd)
	set(&vm.Cmdline, p.Cmdline)
	if p.MemoryBytes != nil {
		vm.MemoryBytes = *p.MemoryBytes
	}
	if p.VCPUs != nil {
		vm.VCPUs = *p.VCPUs
	}
	if p.IOThreads != nil {
		vm.IOThreads = *p.IOThreads
	}
	if p.VirtioSCSIMultiQueues != nil {
		vm.VirtioSCSIMultiQueues = *p.VirtioSCSIMultiQueues
	}
}

func validateVMFields(action apperr.Action, vm model.VM) error {
	typ := apperr.TypeVM
	if err := validateName(action, typ, vm.Name); err != nil {
		return err
	}
	if _, err := lookupOS(action, typ, vm.OSType); err != nil {
		return err
	}
	if vm.MemoryBytes < 16<<20 || vm.MemoryBytes > 16<<40 {
		return badParam(action, typ, "Memory must be between 16 MiB and 16 TiB.")
	}
	if vm.VCPUs < 1 || vm.VCPUs > 255 {
		return badParam(action, typ, "The number of vCPUs must be between 1 and 255.")
	}
	if vm.IOThreads < 0 || vm.IOThreads > MaxIOThreads {
		return apperr.New(apperr.IOThreadsInvalid, action, typ, "max", fmt.Sprint(MaxIOThreads))
	}
	if vm.VirtioSCSIMultiQueues < -1 || vm.VirtioSCSIMultiQueues > MaxSCSIQueues {
		return apperr.New(apperr.MultiQueuesInvalid, action, typ, "max", fmt.Sprint(MaxSCSIQueues))
	}
	return nil
}

// virtioSCSIAllowed says why a VM in cluster c with OS osName cannot have
// virtio-scsi, or nil when it can.
func (e *Engine) virtioSCSIAllowed(ctx context.Context, tx store.Tx, action apperr.Action, c model.Cluster, osName string) error {
	on, err := e.virtioSCSIEnabledFor(ctx, tx, c.Version)
	if err != nil {
		return err
	}
	if !on || c.Version.Less(model.Version33) {
		return apperr.New(apperr.VirtIOSCSINotForClusterLevel, action, apperr.TypeVM)
	}
	o, err := lookupOS(action, apperr.TypeVM, osName)
	if err != nil {
		return err
	}
	if !o.VirtIOSCSI() {
		return apperr.New(apperr.OSDoesNotSupportVirtIOSCSI, action, apperr.TypeVM, "osName", o.Name)
	}
	return nil
}

// AddVM creates a VM. VirtIO-SCSI is on by default when the cluster level,
// the VirtIOScsiEnabled value and the OS allow it; asking for it where they
// do not is refused with the reason.
func (e *Engine) AddVM(ctx context.Context, p VMParams) (model.VM, error) {
	const action = apperr.ActionAdd
	vm := model.VM{
		ID: e.newID(), Status: model.VMDown, TemplateID: BlankTemplateID,
		MemoryBytes: DefaultMemoryBytes, VCPUs: DefaultVCPUs, CreatedAt: e.now(),
	}
	p.apply(&vm)
	if vm.OSType == "" {
		vm.OSType = "other"
	}
	if err := validateVMFields(action, vm); err != nil {
		return model.VM{}, err
	}
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		c, err := tx.GetCluster(ctx, vm.ClusterID)
		if err != nil {
			return mapNotFound(err, action, apperr.TypeCluster, vm.ClusterID)
		}
		allowed := e.virtioSCSIAllowed(ctx, tx, action, c, vm.OSType)
		enable := allowed == nil
		if p.VirtioSCSIEnabled != nil {
			enable = *p.VirtioSCSIEnabled
			if enable && allowed != nil {
				return allowed
			}
		}
		if err := tx.InsertVM(ctx, vm); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apperr.New(apperr.NameAlreadyUsed, action, apperr.TypeVM, "name", vm.Name)
			}
			return err
		}
		if enable {
			for _, spec := range desiredControllers(vm) {
				if err := tx.InsertDevice(ctx, e.controllerRow(vm.ID, spec)); err != nil {
					return err
				}
			}
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_VM", VMID: vm.ID,
			Message: fmt.Sprintf("VM %s was created by %s.", vm.Name, Caller(ctx))})
	})
	if err != nil {
		return model.VM{}, err
	}
	return vm, nil
}

// RemoveVM deletes a VM that is down with its attachments and devices. With
// removeDisks its disks that no other VM uses go too (oVirt's default for
// DELETE /vms/{id}); their volumes are removed from the host afterwards.
func (e *Engine) RemoveVM(ctx context.Context, id string, removeDisks bool) error {
	const action = apperr.ActionRemove
	unlock := e.locks.lock(id)
	defer unlock()
	var volumes []model.Disk
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, id, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, id, action, apperr.TypeVM)
		if err != nil {
			return err
		}
		if !s.vm.Status.IsDown() {
			return apperr.New(apperr.VMIsNotDown, action, apperr.TypeVM)
		}
		if err := deleteWithPermissions(ctx, tx, store.ObjectVM, id, tx.DeleteVM); err != nil { // cascades attachments and devices
			return err
		}
		if removeDisks {
			for d := range s.rows.attachedDisks() {
				others, err := tx.ListAttachmentsOfDisk(ctx, d.ID)
				if err != nil {
					return err
				}
				if len(others) > 0 {
					continue
				}
				if err := deleteWithPermissions(ctx, tx, store.ObjectDisk, d.ID, tx.DeleteDisk); err != nil {
					return err
				}
				if !d.IsLUN() {
					volumes = append(volumes, d)
				}
			}
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_REMOVE_VM", VMID: id,
			Message: fmt.Sprintf("VM %s was removed by %s.", s.vm.Name, Caller(ctx))})
	})
	if err != nil {
		return err
	}
	e.removeVolumes(ctx, volumes)
	return nil
}
