package domxml

import (
	"fmt"
	"math"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

// Kinds of LiveDevice.
const (
	KindDisk       = "disk"
	KindController = "controller"
)

// Live is what the agent reports about a running domain: enough to tell
// whose it is (HostID) and which devices it really has.
type Live struct {
	UUID    string
	Name    string
	HostID  string // from govirt's metadata element; empty when absent
	Devices []LiveDevice
	// PCISlotsUsed counts the slots of PCI bus 0 that devices hold, besides
	// the host bridge (slot 0) and the ISA bridge (slot 1).
	PCISlotsUsed int
}

// LiveDevice is a disk or controller as the running domain has it, read back
// from libvirt's live XML, so the engine can reconcile its device rows.
type LiveDevice struct {
	Alias     string // ua-<id> for devices the engine created
	Kind      string // KindDisk or KindController
	Bus       vmspec.Bus
	Device    vmspec.Device
	TargetDev string
	Address   *scsi.DriveAddress // drive address of scsi disks
	Index     uint16             // controller index
	Model     string             // controller model
	Source    string             // file path or iSCSI name, empty for an empty CD-ROM
	Serial    string             // the serial the guest sees, when govirt set one
}

// ParseLive reads libvirt's live domain XML (virDomainGetXMLDesc), which
// carries libvirt's own aliases and addresses next to the engine's. Only
// disks and scsi controllers are reported: they are the devices the engine
// keeps rows for.
func ParseLive(domainXML string) (Live, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(domainXML); err != nil {
		return Live{}, fmt.Errorf("parse live domain xml: %w", err)
	}
	live := Live{UUID: dom.UUID, Name: dom.Name, PCISlotsUsed: pciSlotsUsed(&dom)}
	if dom.Metadata != nil {
		host, err := hostFromDomainMetadata(dom.Metadata.XML)
		if err != nil {
			return Live{}, fmt.Errorf("domain %s: %w", dom.Name, err)
		}
		live.HostID = host
	}
	if dom.Devices == nil {
		return live, nil
	}
	for _, d := range dom.Devices.Disks {
		dev, err := liveDisk(d)
		if err != nil {
			return Live{}, fmt.Errorf("domain %s: %w", dom.Name, err)
		}
		live.Devices = append(live.Devices, dev)
	}
	for _, c := range dom.Devices.Controllers {
		if c.Type != "scsi" {
			continue
		}
		dev, err := liveController(c)
		if err != nil {
			return Live{}, fmt.Errorf("domain %s: %w", dom.Name, err)
		}
		live.Devices = append(live.Devices, dev)
	}
	return live, nil
}

func liveDisk(d libvirtxml.DomainDisk) (LiveDevice, error) {
	dev := LiveDevice{Kind: KindDisk, Device: vmspec.Device(d.Device), Serial: d.Serial}
	if d.Alias != nil {
		dev.Alias = d.Alias.Name
	}
	if d.Target != nil {
		dev.TargetDev = d.Target.Dev
		dev.Bus = vmspec.Bus(d.Target.Bus)
	}
	if s := d.Source; s != nil {
		switch {
		case s.File != nil:
			dev.Source = s.File.File
		case s.Block != nil:
			dev.Source = s.Block.Dev
		case s.Network != nil:
			dev.Source = s.Network.Name
		}
	}
	if dev.Bus == vmspec.BusSCSI && d.Address != nil && d.Address.Drive != nil {
		a, err := driveAddress(d.Address.Drive)
		if err != nil {
			return LiveDevice{}, fmt.Errorf("disk %s (%s): %w", dev.TargetDev, dev.Alias, err)
		}
		dev.Address = &a
	}
	return dev, nil
}

func liveController(c libvirtxml.DomainController) (LiveDevice, error) {
	dev := LiveDevice{Kind: KindController, Model: c.Model}
	if c.Alias != nil {
		dev.Alias = c.Alias.Name
	}
	if c.Index == nil {
		return LiveDevice{}, fmt.Errorf("scsi controller %q without index", dev.Alias)
	}
	idx, err := u16("index", c.Index)
	if err != nil {
		return LiveDevice{}, fmt.Errorf("scsi controller %q: %w", dev.Alias, err)
	}
	dev.Index = idx
	return dev, nil
}

func driveAddress(d *libvirtxml.DomainAddressDrive) (scsi.DriveAddress, error) {
	var a scsi.DriveAddress
	var err error
	for _, f := range []struct {
		name string
		src  *uint
		dst  *uint16
	}{
		{"controller", d.Controller, &a.Controller},
		{"bus", d.Bus, &a.Bus},
		{"target", d.Target, &a.Target},
		{"unit", d.Unit, &a.Unit},
	} {
		if *f.dst, err = u16(f.name, f.src); err != nil {
			return scsi.DriveAddress{}, err
		}
	}
	return a, nil
}

func u16(name string, v *uint) (uint16, error) {
	if v == nil {
		return 0, fmt.Errorf("drive address without %s", name)
	}
	if *v > math.MaxUint16 {
		return 0, fmt.Errorf("%s %d out of range", name, *v)
	}
	return uint16(*v), nil
}

// pciSlotsUsed counts distinct bus-0 slots above 1 in the devices' PCI
// addresses (libvirt assigns one to every PCI device of a live domain).
func pciSlotsUsed(dom *libvirtxml.Domain) int {
	if dom.Devices == nil {
		return 0
	}
	used := map[uint]bool{}
	add := func(a *libvirtxml.DomainAddress) {
		if a == nil || a.PCI == nil || a.PCI.Slot == nil {
			return
		}
		p := a.PCI
		if (p.Domain != nil && *p.Domain != 0) || (p.Bus != nil && *p.Bus != 0) || *p.Slot < 2 {
			return
		}
		used[*p.Slot] = true
	}
	d := dom.Devices
	for _, x := range d.Disks {
		add(x.Address)
	}
	for _, x := range d.Controllers {
		add(x.Address)
	}
	for _, x := range d.Interfaces {
		add(x.Address)
	}
	for _, x := range d.Videos {
		add(x.Address)
	}
	if d.MemBalloon != nil {
		add(d.MemBalloon.Address)
	}
	for _, x := range d.RNGs {
		add(x.Address)
	}
	for _, x := range d.Hostdevs {
		add(x.Address)
	}
	return len(used)
}
