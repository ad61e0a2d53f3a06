package domxml

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

func pciAddr(slot uint) *libvirtxml.DomainAddress {
	zero := uint(0)
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &zero, Slot: &slot, Function: &zero}}
}

// TestForMigration: the destination's XML takes the running domain's disk
// and controller order and addresses (a virtio-blk disk and the SCSI
// controller plugged after the start sit in the slots libvirt gave them
// then, after the devices of the start), gains the controllers libvirt
// added on the source, and keeps its own console, owner and sources.
func TestForMigration(t *testing.T) {
	vm := directBootVM()
	blk := vmspec.Disk{ID: diskID(9), Bus: vmspec.BusVirtIO, Device: vmspec.DeviceDisk, TargetDev: "vda", Serial: diskID(9),
		File: fileSource(9, vmspec.FormatRaw)}
	vm.Disks = append([]vmspec.Disk{blk}, vm.Disks...) // the spec's order
	destOpts := Options{HostID: "host-b", ConsolePath: "/srv/b/console/vm.log"}
	dest, err := Marshal(vm, destOpts)
	if err != nil {
		t.Fatal(err)
	}

	// The source: SCSI disks first (booted with), the virtio-blk disk
	// plugged later, libvirt's own controllers and aliases.
	dom, err := Build(vm, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	devs := dom.Devices
	devs.Disks = append(devs.Disks[1:], devs.Disks[0])
	devs.Disks[len(devs.Disks)-1].Address = pciAddr(7)
	zero := uint(0)
	var scsiAt int
	for i, c := range devs.Controllers {
		if c.Type == "scsi" {
			devs.Controllers[i].Address, devs.Controllers[i].Alias, scsiAt = pciAddr(6), &libvirtxml.DomainAlias{Name: "scsi0"}, i
		}
	}
	devs.Controllers = append([]libvirtxml.DomainController{
		{Type: "pci", Index: &zero, Model: "pci-root", Alias: &libvirtxml.DomainAlias{Name: "pci.0"}},
		{Type: "virtio-serial", Index: &zero, Address: pciAddr(4), Alias: &libvirtxml.DomainAlias{Name: "virtio-serial0"}},
	}, devs.Controllers...)
	scsiAt += 2
	if devs.MemBalloon != nil {
		devs.MemBalloon.Address = pciAddr(5)
	}
	live, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	out, err := ForMigration(dest, live)
	if err != nil {
		t.Fatal(err)
	}
	var got libvirtxml.Domain
	if err := got.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, d := range got.Devices.Disks {
		order = append(order, d.Target.Dev)
	}
	if strings.Join(order, " ") != "sda sdb sdc vda" {
		t.Errorf("disk order %v, want the live one", order)
	}
	if a := got.Devices.Disks[3].Address; a == nil || a.PCI == nil || *a.PCI.Slot != 7 {
		t.Errorf("the hot-plugged virtio-blk disk is not in its live slot: %+v", a)
	}
	if a := got.Devices.Disks[0].Address; a == nil || a.Drive == nil {
		t.Errorf("a SCSI disk lost its drive address: %+v", a)
	}
	var kinds []string
	for _, c := range got.Devices.Controllers {
		kinds = append(kinds, c.Type)
		if c.Alias != nil {
			t.Errorf("controller %s carries libvirt's alias %q", c.Type, c.Alias.Name)
		}
	}
	if len(kinds) < 3 || kinds[0] != "pci" || kinds[1] != "virtio-serial" || kinds[scsiAt] != "scsi" {
		t.Errorf("controllers %v, want the live order", kinds)
	}
	if a := got.Devices.Controllers[scsiAt].Address; a == nil || a.PCI == nil || *a.PCI.Slot != 6 {
		t.Errorf("the SCSI controller is not in its live slot: %+v", a)
	}
	for _, want := range []string{"/srv/b/console/vm.log", "<host>host-b</host>", diskID(9)} {
		if !strings.Contains(out, want) {
			t.Errorf("the aligned XML lost the destination's %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testOpts.ConsolePath) {
		t.Error("the aligned XML took the source's console path")
	}
	if _, err := ForMigration("<domain", live); err == nil {
		t.Error("a broken destination XML was accepted")
	}
}
