package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// storageDomainsOf loads the storage domains of a VM's image disks.
func storageDomainsOf(ctx context.Context, tx store.Tx, s *vmState) (map[string]model.StorageDomain, error) {
	out := map[string]model.StorageDomain{}
	if cd, ok := s.cdrom(); ok && cd.Media != "" {
		sdID, _, _ := strings.Cut(cd.Media, "/")
		sd, err := tx.GetStorageDomain(ctx, sdID)
		if err != nil {
			return nil, fmt.Errorf("storage domain of the cdrom: %w", err)
		}
		out[sd.ID] = sd
	}
	for d := range s.rows.attachedDisks() {
		if d.IsLUN() || out[d.StorageDomainID].ID != "" {
			continue
		}
		sd, err := tx.GetStorageDomain(ctx, d.StorageDomainID)
		if err != nil {
			return nil, fmt.Errorf("storage domain of disk %s: %w", d.Alias, err)
		}
		out[sd.ID] = sd
	}
	return out, nil
}

// storageDomainOfDisk loads the storage domain of one image disk (none for
// a LUN), in the form diskSpec takes.
func storageDomainOfDisk(ctx context.Context, tx store.Tx, d model.Disk) (map[string]model.StorageDomain, error) {
	out := map[string]model.StorageDomain{}
	if d.IsLUN() {
		return out, nil
	}
	sd, err := tx.GetStorageDomain(ctx, d.StorageDomainID)
	if err != nil {
		return nil, fmt.Errorf("storage domain of disk %s: %w", d.Alias, err)
	}
	out[sd.ID] = sd
	return out, nil
}

// buildSpec turns the engine's rows into the agent's VM description: every
// name, address, serial and alias is decided here, none on the host.
func buildSpec(s *vmState, domains map[string]model.StorageDomain, virtType vmspec.VirtType) (vmspec.VM, error) {
	vm := vmspec.VM{
		ID: s.vm.ID, Name: s.vm.Name, MemoryMiB: uint64(s.vm.MemoryBytes >> 20), VCPUs: uint32(s.vm.VCPUs),
		VirtType: virtType, Machine: vmspec.DefaultMachine, IOThreads: uint32(s.vm.IOThreads),
		Boot:       vmspec.DirectBoot{Kernel: s.vm.Kernel, Initrd: s.vm.Initrd, Cmdline: s.vm.Cmdline},
		GuestAgent: true,
	}
	perController := map[int]int{}
	for dev := range s.rows.devices() {
		if dev.Type != model.DeviceTypeDisk || !dev.Plugged {
			continue
		}
		if dev.ID == CDROMID {
			sdID, _, _ := strings.Cut(dev.Media, "/")
			vm.Disks = append(vm.Disks, cdromSpec(dev, domains[sdID]))
			continue
		}
		a, ok := s.attachment(dev.ID)
		if !ok || !a.Active {
			continue
		}
		d, err := diskSpec(s, dev, a, domains)
		if err != nil {
			return vmspec.VM{}, err
		}
		if vm.Boot.Enabled() {
			d.BootOrder = 0
		}
		if d.Address != nil {
			perController[int(d.Address.Controller)]++
		}
		vm.Disks = append(vm.Disks, d)
	}
	sort.Slice(vm.Disks, func(i, j int) bool { return diskOrder(vm.Disks[i], vm.Disks[j]) })
	for _, c := range s.controllers() {
		vm.Controllers = append(vm.Controllers, controllerSpec(s, *c.Controller, perController[c.Controller.Index]))
	}
	return vm, nil
}

// controllerSpec is a virtio-scsi controller as the agent gets it; with
// automatic multi-queue its queues follow the disks it carries.
func controllerSpec(s *vmState, c model.ControllerSpec, disks int) vmspec.Controller {
	queues := c.Queues
	if s.vm.VirtioSCSIMultiQueues == -1 {
		queues = max(1, min(disks, autoQueuesCeiling, s.vm.VCPUs))
	}
	return vmspec.Controller{Index: uint16(c.Index), Queues: uint32(queues), IOThread: uint32(c.IOThread)}
}

// plugSpec is what a hot-plug sends: the one disk, exactly as buildSpec
// would describe it, and its controller, without rendering the whole VM
// (a hot-plug into a VM with thousands of disks must stay cheap).
func plugSpec(s *vmState, diskID string, domains map[string]model.StorageDomain) (vmspec.Disk, *vmspec.Controller, error) {
	dev, ok := s.device(diskID)
	a, okA := s.attachment(diskID)
	if !ok || !okA {
		return vmspec.Disk{}, nil, fmt.Errorf("vm %s has no attachment of disk %s", s.vm.Name, diskID)
	}
	d, err := diskSpec(s, dev, a, domains)
	if err != nil {
		return vmspec.Disk{}, nil, err
	}
	if (vmspec.DirectBoot{Kernel: s.vm.Kernel}).Enabled() {
		d.BootOrder = 0
	}
	if d.Address == nil {
		return d, nil, nil
	}
	index := int(d.Address.Controller)
	for _, c := range s.controllers() {
		if c.Controller.Index == index {
			cs := controllerSpec(s, *c.Controller, s.rows.disksOnController(index))
			return d, &cs, nil
		}
	}
	return d, nil, nil
}

// diskOrder puts addressed disks first in address order, then the others by
// name, so the XML (and the guest's view at boot) is deterministic.
func diskOrder(a, b vmspec.Disk) bool {
	switch {
	case a.Address != nil && b.Address != nil:
		return a.Address.Less(*b.Address)
	case a.Address != nil:
		return true
	case b.Address != nil:
		return false
	}
	return a.TargetDev < b.TargetDev
}

func diskSpec(s *vmState, dev model.VmDevice, a model.DiskAttachment, domains map[string]model.StorageDomain) (vmspec.Disk, error) {
	d := s.disk(dev.ID)
	out := vmspec.Disk{
		ID: d.ID, TargetDev: dev.TargetDev, Address: dev.Address, Serial: d.ID,
		ReadOnly: a.ReadOnly, Shareable: d.Shareable, Discard: a.PassDiscard, Device: vmspec.DeviceDisk,
		ErrorPolicy: "stop",
	}
	if d.PropagateErrors {
		out.ErrorPolicy = "enospace"
	}
	if a.Bootable {
		out.BootOrder = 1
	}
	switch a.Interface {
	case model.InterfaceVirtIOSCSI:
		out.Bus = vmspec.BusSCSI
	case model.InterfaceVirtIO:
		out.Bus = vmspec.BusVirtIO
	case model.InterfaceIDE:
		out.Bus = vmspec.BusIDE
	default:
		return vmspec.Disk{}, fmt.Errorf("disk %s: interface %s cannot be run", d.Alias, a.Interface)
	}
	if d.IsLUN() {
		out.ISCSI = &vmspec.ISCSISource{Host: d.LUN.Address, Port: uint16(d.LUN.Port), IQN: d.LUN.Target, LUN: uint32(d.LUN.LunMapping)}
		if dev.Device == model.DeviceLUN {
			// The guest sees the LUN's own identity: no serial of ours. What
			// the guest may send is the SCSI command policy's business (the
			// agent's proxy, withPolicies); libvirt 9 only takes filtered.
			out.Device, out.Serial, out.SGIO = vmspec.DeviceLUN, "", vmspec.SGIOFiltered
		}
		return out, nil
	}
	sd, ok := domains[d.StorageDomainID]
	if !ok {
		return vmspec.Disk{}, fmt.Errorf("disk %s: storage domain %s unknown", d.Alias, d.StorageDomainID)
	}
	format := vmspec.FormatQCOW2
	if d.Format == model.FormatRaw {
		format = vmspec.FormatRaw
	}
	out.File = &vmspec.FileSource{DomainDir: sd.Path, VolumeID: d.ID, Format: format}
	return out, nil
}
