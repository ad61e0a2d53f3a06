package vmspec

import "errors"

// PCISlotsI440FX is how many PCI devices fit an i440fx ("pc") VM: bus 0 has
// 32 slots; slot 0 is the host bridge, slot 1 the PIIX3 ISA bridge (whose
// functions carry IDE, USB and power management), and libvirt keeps slot 31
// free for a pci-bridge it would add on its own. Measured on libvirt 9.0:
// 29 virtio-blk disks start on bus 0; with a 30th libvirt silently adds a
// bridge. govirt keeps every device on bus 0 so the count stays exact.
const PCISlotsI440FX = 29

// ErrTooManyPCIDevices marks a VM that does not fit its machine's PCI bus.
var ErrTooManyPCIDevices = errors.New("too many PCI devices for the machine type")

// PCIDevices counts the VM's devices that take a PCI slot: virtio-scsi
// controllers, virtio-blk disks, the virtio-serial controller of the guest
// agent channel, the balloon and the video adapter.
func (vm VM) PCIDevices() int {
	n := len(vm.Controllers)
	for _, d := range vm.Disks {
		if d.Bus == BusVirtIO {
			n++
		}
	}
	for _, on := range []bool{vm.GuestAgent, vm.Balloon, vm.Video} {
		if on {
			n++
		}
	}
	return n
}

// PCISlots is the number of PCI devices the VM's machine type takes.
func (vm VM) PCISlots() int { return PCISlotsI440FX }
