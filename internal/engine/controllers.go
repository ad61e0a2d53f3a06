package engine

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// desiredControllers is the virtio-scsi controller layout of a VM: one per
// I/O thread, each bound to its thread, or a single one without threads.
// Fixed multi-queue counts are stored; automatic (-1) is resolved when the
// VM starts, from the disks each controller then carries.
func desiredControllers(vm model.VM) []model.ControllerSpec {
	n := max(1, vm.IOThreads)
	out := make([]model.ControllerSpec, n)
	for i := range out {
		out[i].Index = i
		if vm.IOThreads > 0 {
			out[i].IOThread = i + 1
		}
		if vm.VirtioSCSIMultiQueues > 0 {
			out[i].Queues = vm.VirtioSCSIMultiQueues
		}
	}
	return out
}

func (e *Engine) controllerRow(vmID string, spec model.ControllerSpec) model.VmDevice {
	return model.VmDevice{
		ID: e.newID(), VMID: vmID, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI,
		Alias: fmt.Sprintf("ua-scsi%d", spec.Index), Plugged: true, Managed: true, Controller: &spec,
	}
}

func controllerIndexes(specs []model.ControllerSpec) []uint16 {
	out := make([]uint16, len(specs))
	for i, c := range specs {
		out[i] = uint16(c.Index)
	}
	return out
}

// rebuildControllers replaces the VM's controller rows by want (nil: none)
// and moves disks whose controller disappears, keeping every other address.
func (e *Engine) rebuildControllers(ctx context.Context, tx store.Tx, s *vmState, want []model.ControllerSpec) error {
	if len(want) == 0 {
		if err := e.moveCDROMToIDE(ctx, tx, s); err != nil {
			return err
		}
	}
	alloc, err := s.allocator()
	if err != nil {
		return err
	}
	moved, err := alloc.SetControllers(controllerIndexes(want))
	if err != nil {
		return err
	}
	for _, c := range s.controllers() {
		if err := tx.DeleteDevice(ctx, s.vm.ID, c.ID); err != nil {
			return err
		}
	}
	for _, spec := range want {
		if err := tx.InsertDevice(ctx, e.controllerRow(s.vm.ID, spec)); err != nil {
			return err
		}
	}
	for d := range s.rows.diskDevices() {
		addr, ok := alloc.Address(d.ID)
		_, wasMoved := moved[d.ID]
		switch {
		case wasMoved:
			d.Address = &addr
		case !ok && d.Address != nil && !d.Plugged:
			d.Address = nil // its controller is gone; it gets a new address when plugged
		default:
			continue
		}
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		s.setDevice(d)
	}
	return nil
}

// moveCDROMToIDE puts a virtio-scsi CD-ROM on IDE when the VM loses its
// controllers, keeping its media.
func (e *Engine) moveCDROMToIDE(ctx context.Context, tx store.Tx, s *vmState) error {
	d, ok := s.cdrom()
	if !ok || d.Address == nil {
		return nil
	}
	d.Address, d.TargetDev = nil, s.rows.nextName(scsi.PrefixIDE, d.TargetDev)
	if err := tx.UpdateDevice(ctx, d); err != nil {
		return err
	}
	s.setDevice(d)
	return nil
}
