package domxml

import (
	"errors"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/vmspec"
)

// checkErr wants a refusal that wraps vmspec.ErrInvalid and says why.
func checkErr(t *testing.T, what string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, substr)
		return
	}
	if !errors.Is(err, vmspec.ErrInvalid) {
		t.Errorf("%s: error %q does not wrap vmspec.ErrInvalid", what, err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("%s: error %q does not contain %q", what, err, substr)
	}
}

func disk(f func(*vmspec.Disk)) func(*vmspec.VM) {
	return func(vm *vmspec.VM) {
		vm.Controllers = []vmspec.Controller{{Index: 0}}
		d := scsiDisk(1, "sda", addr(0, 0, 0), vmspec.FormatRaw)
		f(&d)
		vm.Disks = []vmspec.Disk{d}
	}
}

func asLUN(d *vmspec.Disk) {
	d.Device, d.File, d.Serial = vmspec.DeviceLUN, nil, ""
	d.ISCSI = &vmspec.ISCSISource{Host: "h", IQN: "iqn.x:y"}
}

func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		vm   func(*vmspec.VM)
		opts Options
		err  string
	}{
		// vmspec.Validate's refusals come through unchanged.
		{"vm id not a uuid", func(vm *vmspec.VM) { vm.ID = "x" }, Options{}, "is not a UUID"},
		{"name with slash", func(vm *vmspec.VM) { vm.Name = "a/b" }, Options{}, "vm name"},
		{"volume id escapes", disk(func(d *vmspec.Disk) { d.File.VolumeID = "../x" }), Options{}, `volume id "../x"`},
		{"iothread beyond count", func(vm *vmspec.VM) { vm.Controllers = []vmspec.Controller{{IOThread: 1}} }, Options{}, "uses iothread 1 of 0"},
		{"scsi disk without controller", func(vm *vmspec.VM) {
			vm.Disks = []vmspec.Disk{scsiDisk(1, "sda", addr(3, 0, 0), vmspec.FormatRaw)}
		}, Options{}, "missing scsi controller 3"},
		{"unit beyond qemu", disk(func(d *vmspec.Disk) { d.Address.Unit = 16384 }), Options{}, "unit 16384 above"},
		// The agent's own refusals.
		{"relative storage domain", disk(func(d *vmspec.Disk) { d.File.DomainDir = "images" }), Options{}, `storage domain dir "images" is not an absolute path`},
		{"empty storage domain", disk(func(d *vmspec.Disk) { d.File.DomainDir = "" }), Options{}, "is not an absolute path"},
		{"serial on lun", disk(func(d *vmspec.Disk) { asLUN(d); d.Serial = "s" }), Options{}, "target's own serial"},
		{"unfiltered sgio", disk(func(d *vmspec.Disk) { asLUN(d); d.SGIO = vmspec.SGIOUnfiltered }), Options{}, "unfiltered sgio"},
		{"rawio on image", disk(func(d *vmspec.Disk) { d.RawIO = true }), Options{}, "rawio is only for pass-through"},
		{"reservations on image", disk(func(d *vmspec.Disk) { d.Reservations = true }), Options{}, "reservations need a pass-through lun"},
		{"unknown cache", disk(func(d *vmspec.Disk) { d.Cache = "none' x='y" }), Options{}, "cache mode"},
		{"unknown error policy", disk(func(d *vmspec.Disk) { d.ErrorPolicy = "retry" }), Options{}, "error policy"},
		{"serial XML cannot carry", disk(func(d *vmspec.Disk) { d.Serial = "a\x01b" }), Options{}, "characters libvirt refuses"},
		{"serial with markup", disk(func(d *vmspec.Disk) { d.Serial = "s'<serial>&]]>" }), Options{}, "characters libvirt refuses"},
		{"target dev libvirt refuses", disk(func(d *vmspec.Disk) { d.TargetDev = "disk<1>" }), Options{}, "target dev"},
		{"sata on i440fx", disk(func(d *vmspec.Disk) { d.Bus, d.Address, d.TargetDev = vmspec.BusSATA, nil, "sda" }), Options{}, "sata needs a q35"},
		{"initrd without kernel", func(vm *vmspec.VM) { vm.Boot.Initrd = "/i" }, Options{}, "without a kernel"},
		{"relative kernel", func(vm *vmspec.VM) { vm.Boot.Kernel = "vmlinuz" }, Options{}, `kernel "vmlinuz" is not an absolute path`},
		{"relative initrd", func(vm *vmspec.VM) { vm.Boot = vmspec.DirectBoot{Kernel: "/k", Initrd: "i"} }, Options{}, "initrd"},
		{"cmdline with NUL", func(vm *vmspec.VM) { vm.Boot = vmspec.DirectBoot{Kernel: "/k", Cmdline: "a\x00b"} }, Options{}, "XML cannot carry"},
		{"name with control char", func(vm *vmspec.VM) { vm.Name = "a\x1bb" }, Options{}, "XML cannot carry"},
		{"name not utf-8", func(vm *vmspec.VM) { vm.Name = "a\xffb" }, Options{}, "not valid UTF-8"},
		{"relative console", func(vm *vmspec.VM) {}, Options{ConsolePath: "c.log"}, "console path"},
		{"host id XML cannot carry", func(vm *vmspec.VM) {}, Options{HostID: "h\x00"}, "host id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(with(tc.vm), tc.opts)
			checkErr(t, tc.name, err, tc.err)
			_, err = Marshal(with(tc.vm), tc.opts)
			checkErr(t, tc.name+" (Marshal)", err, tc.err)
		})
	}
}

func TestDiskXMLRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*vmspec.Disk)
		err  string
	}{
		{"volume id escapes", func(d *vmspec.Disk) { d.File.VolumeID = "../x" }, "volume id"},
		{"relative storage domain", func(d *vmspec.Disk) { d.File.DomainDir = "./sd" }, "not an absolute path"},
		{"no address on scsi", func(d *vmspec.Disk) { d.Address = nil }, "explicit drive address"},
		{"serial on lun", func(d *vmspec.Disk) { asLUN(d); d.Serial = "s" }, "target's own serial"},
	} {
		d := scsiDisk(1, "sda", addr(0, 0, 0), vmspec.FormatRaw)
		tc.f(&d)
		_, err := DiskXML(d, Options{})
		checkErr(t, tc.name, err, tc.err)
	}
}
