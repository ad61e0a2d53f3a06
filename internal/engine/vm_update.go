package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// UpdateVM changes a VM. Enabling or disabling VirtIO-SCSI, and changing I/O
// threads or multi-queues, rebuild the controllers and so need the VM down;
// disabling is refused while VirtIO-SCSI disks are plugged.
func (e *Engine) UpdateVM(ctx context.Context, id string, p VMParams) (model.VM, error) {
	const action = apperr.ActionUpdate
	unlock := e.locks.lock(id)
	defer unlock()
	var out model.VM
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, id, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, id, action, apperr.TypeVM)
		if err != nil {
			return err
		}
		vm := s.vm
		p.apply(&vm)
		if err := validateVMFields(action, vm); err != nil {
			return err
		}
		if vm.ClusterID != s.vm.ClusterID {
			return badParam(action, apperr.TypeVM, "Moving a VM to another cluster is not supported.")
		}
		enabled := s.virtioSCSIEnabled()
		want := enabled
		if p.VirtioSCSIEnabled != nil {
			want = *p.VirtioSCSIEnabled
		}
		layoutChanged := want != enabled ||
			want && (vm.IOThreads != s.vm.IOThreads || vm.VirtioSCSIMultiQueues != s.vm.VirtioSCSIMultiQueues)
		if layoutChanged && !s.vm.Status.IsDown() {
			return apperr.New(apperr.VMIsNotDown, action, apperr.TypeVM)
		}
		if err := e.checkOSChange(ctx, tx, action, s, vm, want); err != nil {
			return err
		}
		if enabled && !want && s.countPlugged(model.InterfaceVirtIOSCSI) > 0 {
			return apperr.New(apperr.CannotDisableVirtIOSCSI, action, apperr.TypeVM)
		}
		if want && !enabled {
			if err := e.virtioSCSIAllowed(ctx, tx, action, s.cluster, vm.OSType); err != nil {
				return err
			}
		}
		if layoutChanged && want {
			pci := s.pciDevices()
			pci.SCSIControllers = len(desiredControllers(vm))
			if PCISlotsFree(pci) < 0 {
				return apperr.New(apperr.ExceededMaxPCISlots, action, apperr.TypeVM)
			}
		}
		if err := tx.UpdateVM(ctx, vm); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apperr.New(apperr.NameAlreadyUsed, action, apperr.TypeVM, "name", vm.Name)
			}
			return err
		}
		if layoutChanged {
			var specs []model.ControllerSpec
			if want {
				specs = desiredControllers(vm)
			}
			if err := e.rebuildControllers(ctx, tx, s, specs); err != nil {
				return err
			}
		}
		out = vm
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_VM", VMID: vm.ID,
			Message: fmt.Sprintf("VM %s configuration was updated by %s.", vm.Name, Caller(ctx))})
	})
	return out, err
}

// checkOSChange: a new OS must drive every interface the VM's disks use,
// and virtio-scsi if it stays enabled.
func (e *Engine) checkOSChange(ctx context.Context, tx store.Tx, action apperr.Action, s *vmState, vm model.VM, virtioSCSI bool) error {
	if vm.OSType == s.vm.OSType {
		return nil
	}
	o, err := lookupOS(action, apperr.TypeVM, vm.OSType)
	if err != nil {
		return err
	}
	if virtioSCSI && !o.VirtIOSCSI() {
		return apperr.New(apperr.OSDoesNotSupportVirtIOSCSI, action, apperr.TypeVM, "osName", o.Name)
	}
	var ifaces []model.DiskInterface
	for a := range s.rows.attachments() {
		if !slices.Contains(ifaces, a.Interface) {
			ifaces = append(ifaces, a.Interface)
		}
	}
	for _, i := range ifaces {
		if !o.Supports(i) {
			return apperr.New(apperr.DiskInterfaceUnsupported, action, apperr.TypeVM, "osName", o.Name)
		}
	}
	return nil
}
