package engine

import "github.com/govirt/govirt/internal/vmspec"

// PCIDevices counts the devices of a VM that take a PCI slot.
type PCIDevices struct {
	SCSIControllers int // virtio-scsi controllers
	VirtIOBlk       int // virtio-blk disks, one slot each
	VirtioSerial    bool
	Balloon         bool
	Video           bool
}

// PCISlotsFree is how many more PCI devices fit the VM's machine type
// (i440fx; see vmspec.PCISlotsI440FX for the count). The agent refuses the
// same configurations, so what the engine accepts always boots.
func PCISlotsFree(p PCIDevices) int {
	vm := vmspec.VM{GuestAgent: p.VirtioSerial, Balloon: p.Balloon, Video: p.Video,
		Controllers: make([]vmspec.Controller, p.SCSIControllers), Disks: make([]vmspec.Disk, p.VirtIOBlk)}
	for i := range vm.Disks {
		vm.Disks[i].Bus = vmspec.BusVirtIO
	}
	return vm.PCISlots() - vm.PCIDevices()
}
