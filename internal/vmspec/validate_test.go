package vmspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
)

const (
	vmID   = "6f9c3a52-0d7e-4b8e-9a51-2f0b7c1d9e11"
	diskA  = "0b7f3a10-1111-4c2d-8e9f-000000000001"
	diskB  = "0b7f3a10-1111-4c2d-8e9f-000000000002"
	domDir = "/var/lib/govirt/storage/sd1"
)

func goodVM() VM {
	return VM{
		ID: vmID, Name: "vm1", MemoryMiB: 256, VCPUs: 1, VirtType: VirtQEMU,
		Controllers: []Controller{{Index: 0}},
		Disks: []Disk{
			{ID: diskA, Bus: BusSCSI, Device: DeviceDisk, TargetDev: "sda",
				Address: &scsi.DriveAddress{}, File: &FileSource{DomainDir: domDir, VolumeID: diskA, Format: FormatQCOW2}},
			{ID: diskB, Bus: BusVirtIO, Device: DeviceDisk, TargetDev: "vda",
				File: &FileSource{DomainDir: domDir, VolumeID: diskB, Format: FormatRaw}},
		},
	}
}

func TestValidateAccepts(t *testing.T) {
	if err := goodVM().Validate(); err != nil {
		t.Fatal(err)
	}
	vm := goodVM()
	vm.Disks = append(vm.Disks, Disk{ID: "0b7f3a10-1111-4c2d-8e9f-000000000003", Bus: BusSCSI, Device: DeviceCDROM,
		TargetDev: "sdb", Address: &scsi.DriveAddress{Unit: 1}})
	if err := vm.Validate(); err != nil {
		t.Fatalf("empty cdrom refused: %v", err)
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*VM)
		want   string
	}{
		{"bad vm id", func(v *VM) { v.ID = "x" }, "not a UUID"},
		{"no name", func(v *VM) { v.Name = "" }, "vm name"},
		{"no memory", func(v *VM) { v.MemoryMiB = 0 }, "memory"},
		{"bad virt type", func(v *VM) { v.VirtType = "xen" }, "virt type"},
		{"dup controller", func(v *VM) { v.Controllers = append(v.Controllers, Controller{Index: 0}) }, "duplicate scsi controller"},
		{"iothread out of range", func(v *VM) { v.Controllers[0].IOThread = 2 }, "iothread"},
		{"scsi without address", func(v *VM) { v.Disks[0].Address = nil }, "explicit drive address"},
		{"address on virtio", func(v *VM) { v.Disks[1].Address = &scsi.DriveAddress{} }, "drive addresses are for scsi"},
		{"missing controller", func(v *VM) { v.Disks[0].Address.Controller = 1 }, "missing scsi controller"},
		{"target too big", func(v *VM) { v.Disks[0].Address.Target = 256 }, "target 256"},
		{"dup target dev", func(v *VM) { v.Disks[1].TargetDev = "sda" }, "duplicate target dev"},
		{"dup disk", func(v *VM) { v.Disks[1].ID = diskA }, "duplicate disk"},
		{"dup address", func(v *VM) {
			v.Disks[1].Bus, v.Disks[1].Address, v.Disks[1].TargetDev = BusSCSI, &scsi.DriveAddress{}, "sdb"
		}, "already used"},
		{"volume escapes", func(v *VM) { v.Disks[0].File.VolumeID = "../etc/passwd" }, "volume id"},
		{"volume hidden", func(v *VM) { v.Disks[0].File.VolumeID = ".x" }, "volume id"},
		{"bad format", func(v *VM) { v.Disks[0].File.Format = "vmdk" }, "format"},
		{"two sources", func(v *VM) { v.Disks[0].ISCSI = &ISCSISource{Host: "h", IQN: "iqn.x", LUN: 1} }, "two sources"},
		{"no source", func(v *VM) { v.Disks[0].File = nil }, "no source"},
		{"lun from file", func(v *VM) { v.Disks[0].Device = DeviceLUN }, "pass-through needs"},
		{"sgio on disk", func(v *VM) { v.Disks[0].SGIO = SGIOFiltered }, "sgio is only"},
		{"bad bus", func(v *VM) { v.Disks[1].Bus = "usb" }, "bus"},
		{"cdrom on virtio", func(v *VM) { v.Disks[1].Device = DeviceCDROM }, "cdrom cannot be on virtio"},
		{"bad target dev", func(v *VM) { v.Disks[0].TargetDev = "sd a" }, "target dev"},
		{"scsi policy on an image", func(v *VM) { v.Disks[0].SCSIPolicy = &scsipolicy.Spec{Name: "filtered"} }, "only for pass-through iSCSI"},
		{"bad scsi policy", func(v *VM) {
			v.Disks[0].File, v.Disks[0].Device = nil, DeviceLUN
			v.Disks[0].ISCSI = &ISCSISource{Host: "127.0.0.1", IQN: "iqn.x", LUN: 1}
			v.Disks[0].SCSIPolicy = &scsipolicy.Spec{Name: "odd", Base: scsipolicy.BaseFiltered, Allow: []string{"0x5f/0x40"}}
		}, "service action"},
		{"reservations under filtered", func(v *VM) {
			v.Disks[0].File, v.Disks[0].Device, v.Disks[0].Reservations = nil, DeviceLUN, true
			v.Disks[0].ISCSI = &ISCSISource{Host: "127.0.0.1", IQN: "iqn.x", LUN: 1}
			v.Disks[0].SCSIPolicy = &scsipolicy.Spec{Name: scsipolicy.NameFiltered}
		}, "refuses PERSISTENT RESERVE"},
		{"iqn with slash", func(v *VM) {
			v.Disks[0].File = nil
			v.Disks[0].ISCSI = &ISCSISource{Host: "127.0.0.1", IQN: "iqn.x/1", LUN: 1}
		}, "iscsi source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := goodVM()
			tt.mutate(&vm)
			err := vm.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}
