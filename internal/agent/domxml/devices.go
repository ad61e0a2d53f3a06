package domxml

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

// guestAgentChannel is the virtio-serial port name qemu-guest-agent opens.
const guestAgentChannel = "org.qemu.guest_agent.0"

// ControllerXML renders one virtio-scsi controller for hot-plug with the
// code Build uses. The engine hot-plugs a controller before the first disk
// on it, because libvirt would otherwise add an lsilogic one by itself.
func ControllerXML(c vmspec.Controller) (string, error) {
	ctl := controllerDevice(c)
	s, err := ctl.Marshal()
	if err != nil {
		return "", fmt.Errorf("encode scsi controller %d: %w", c.Index, err)
	}
	return s, nil
}

func controllerDevice(c vmspec.Controller) libvirtxml.DomainController {
	ctl := libvirtxml.DomainController{
		Type:  "scsi",
		Index: uintPtr(uint(c.Index)),
		Model: "virtio-scsi",
	}
	if c.Queues > 0 || c.IOThread > 0 {
		ctl.Driver = &libvirtxml.DomainControllerDriver{IOThread: uint(c.IOThread)}
		if c.Queues > 0 {
			ctl.Driver.Queues = uintPtr(uint(c.Queues))
		}
	}
	return ctl
}

// configureControllers always writes the virtio-scsi controllers out: a
// scsi disk without its controller makes libvirt invent an lsilogic one.
func configureControllers(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	devs := devices(dom)
	for _, c := range vm.Controllers {
		devs.Controllers = append(devs.Controllers, controllerDevice(c))
	}
	return nil
}

// configureDisks renders every disk in spec order. SATA is refused on
// i440fx: libvirt would add an AHCI controller, a PCI device the engine's
// slot count does not know about.
func configureDisks(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	devs := devices(dom)
	for _, d := range vm.Disks {
		if d.Bus == vmspec.BusSATA && i440fx(vm.Machine) {
			return invalid("disk %s: sata needs a q35 machine, not %q", d.ID, vm.Machine)
		}
		disk, err := diskDevice(d, !vm.Boot.Enabled())
		if err != nil {
			return err
		}
		devs.Disks = append(devs.Disks, disk)
	}
	return nil
}

func i440fx(machine string) bool {
	return machine == "" || machine == "pc" || strings.HasPrefix(machine, "pc-i440fx")
}

// configureGuestAgent adds the channel qemu-guest-agent talks on. libvirt
// adds the virtio-serial controller for it and picks the socket path.
func configureGuestAgent(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	if !vm.GuestAgent {
		return nil
	}
	devs := devices(dom)
	devs.Channels = append(devs.Channels, libvirtxml.DomainChannel{
		Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
		Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: guestAgentChannel}},
	})
	return nil
}

// configureConsole sends the first serial port to a file and makes it the
// console, so early boot output survives a guest that never comes up.
func configureConsole(_ vmspec.VM, opts Options, dom *libvirtxml.Domain) error {
	if opts.ConsolePath == "" {
		return nil
	}
	if err := absPath("console path", opts.ConsolePath); err != nil {
		return err
	}
	devs := devices(dom)
	// append: a live migration's destination opens the file again and
	// must not truncate (or, unprivileged, fail to delete) it.
	file := &libvirtxml.DomainChardevSourceFile{Path: opts.ConsolePath, Append: "on"}
	devs.Serials = append(devs.Serials, libvirtxml.DomainSerial{
		Source: &libvirtxml.DomainChardevSource{File: file},
		Target: &libvirtxml.DomainSerialTarget{Port: uintPtr(0)},
	})
	devs.Consoles = append(devs.Consoles, libvirtxml.DomainConsole{
		Source: &libvirtxml.DomainChardevSource{File: file},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: uintPtr(0)},
	})
	return nil
}

// configureOptionalDevices writes the devices libvirt adds by default
// either way, because the engine counts PCI slots from the spec and libvirt
// must not add a balloon or USB controller the engine did not count.
//
// A VGA adapter gets no <graphics>: the spec has no display protocol (nor
// a way to protect one) yet, and libvirt accepts video without graphics.
func configureOptionalDevices(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	devs := devices(dom)
	usb := libvirtxml.DomainController{
		Type: "usb", Index: uintPtr(0), Model: "none",
		USB: &libvirtxml.DomainControllerUSB{}, // what decoding yields, so domains compare equal
	}
	if vm.USB {
		usb.Model = "piix3-uhci"
	}
	devs.Controllers = append(devs.Controllers, usb)
	devs.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	if vm.Balloon {
		devs.MemBalloon.Model = "virtio"
	}
	if vm.Video {
		devs.Videos = append(devs.Videos, libvirtxml.DomainVideo{Model: libvirtxml.DomainVideoModel{Type: "vga"}})
	}
	return nil
}
