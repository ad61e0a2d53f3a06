package domxml

import (
	"fmt"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

// Whole VMs shared by the golden, hot-plug and libvirt tests.

const (
	sdDir    = "/var/lib/govirt/sd/0b7c5f8e-2d41-4c56-9a0e-6f3b2d1c4e5a/images"
	lunIQN   = "iqn.2024-01.dev.govirt:storage"
	testHost = "agent-7f2c"
)

var testOpts = Options{HostID: testHost, ConsolePath: "/var/log/govirt/console/vm.log"}

type goldenCase struct {
	name string // testdata/<name>.xml
	vm   vmspec.VM
	opts Options
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"direct-boot-3-disks", directBootVM(), testOpts},
		{"iothreads-2-controllers", ioThreadsVM(), testOpts},
		{"virtio-blk-28", virtioBlkVM(28), Options{HostID: testHost}},
		{"lun-and-cdroms", lunVM(), testOpts},
	}
}

// diskID makes the n-th test disk id; volume ids are the disk ids too.
func diskID(n int) string { return fmt.Sprintf("d15c0000-0000-4000-8000-%012d", n) }

func addr(c, t, u uint16) *scsi.DriveAddress {
	return &scsi.DriveAddress{Controller: c, Target: t, Unit: u}
}

func fileSource(n int, f vmspec.Format) *vmspec.FileSource {
	return &vmspec.FileSource{DomainDir: sdDir, VolumeID: diskID(n), Format: f}
}

func scsiDisk(n int, tdev string, a *scsi.DriveAddress, f vmspec.Format) vmspec.Disk {
	return vmspec.Disk{
		ID: diskID(n), Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: tdev,
		Address: a, Serial: diskID(n), File: fileSource(n, f),
	}
}

func directBootVM() vmspec.VM {
	boot := scsiDisk(1, "sda", addr(0, 0, 0), vmspec.FormatQCOW2)
	boot.BootOrder = 1 // dropped: the kernel boots
	boot.Discard = true
	data := scsiDisk(2, "sdb", addr(0, 1, 0), vmspec.FormatRaw)
	data.ErrorPolicy = "stop"
	high := scsiDisk(3, "sdc", addr(0, 1, 300), vmspec.FormatRaw)
	high.Shareable = true
	return vmspec.VM{
		ID: "5b0f4c1e-8d7a-4f3b-9c2e-1a2b3c4d5e6f", Name: "direct-boot",
		MemoryMiB: 256, VCPUs: 1, VirtType: vmspec.VirtQEMU,
		Boot: vmspec.DirectBoot{
			Kernel:  "/var/lib/govirt/guest/vmlinuz",
			Initrd:  "/var/lib/govirt/guest/initrd.img",
			Cmdline: "console=ttyS0 quiet",
		},
		Controllers: []vmspec.Controller{{Index: 0}},
		Disks:       []vmspec.Disk{boot, data, high},
		GuestAgent:  true,
	}
}

func ioThreadsVM() vmspec.VM {
	boot := scsiDisk(1, "sda", addr(0, 0, 0), vmspec.FormatQCOW2)
	boot.BootOrder = 1
	second := scsiDisk(2, "sdb", addr(1, 0, 0), vmspec.FormatRaw)
	second.Cache = "writeback"
	return vmspec.VM{
		ID: "7a3e9d20-1c4b-4e8f-a6d2-3b5c7e9f1a2b", Name: "iothreads",
		MemoryMiB: 4096, VCPUs: 4, VirtType: vmspec.VirtKVM, Machine: "pc-i440fx-7.2",
		IOThreads: 2,
		Controllers: []vmspec.Controller{
			{Index: 0, Queues: 4, IOThread: 1},
			{Index: 1, Queues: 2, IOThread: 2},
		},
		Disks:      []vmspec.Disk{boot, second},
		GuestAgent: true, Balloon: true, Video: true, USB: true,
	}
}

// virtioBlkVM has n virtio-blk disks and no other PCI device: 28 is what
// fits i440fx.
func virtioBlkVM(n int) vmspec.VM {
	vm := vmspec.VM{
		ID: "c2d4e6f8-0a1b-4c3d-8e5f-7a9b1c3d5e7f", Name: "virtio-blk",
		MemoryMiB: 512, VCPUs: 2, VirtType: vmspec.VirtQEMU,
	}
	for i := 0; i < n; i++ {
		d := vmspec.Disk{
			ID: diskID(i + 1), Bus: vmspec.BusVirtIO, Device: vmspec.DeviceDisk,
			TargetDev: "vd" + letters(i), Serial: diskID(i + 1),
			File: fileSource(i+1, vmspec.FormatRaw),
		}
		if i == 0 {
			d.BootOrder = 1
		}
		vm.Disks = append(vm.Disks, d)
	}
	return vm
}

// letters is the kernel's disk suffix: a..z, aa..
func letters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

func lunVM() vmspec.VM {
	boot := scsiDisk(1, "sda", addr(0, 0, 0), vmspec.FormatQCOW2)
	boot.BootOrder = 1
	lun := vmspec.Disk{
		ID: diskID(2), Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sdb",
		Address: addr(0, 0, 1),
		ISCSI:   &vmspec.ISCSISource{Host: "127.0.0.1", Port: 3260, IQN: lunIQN, LUN: 1},
		SGIO:    vmspec.SGIOFiltered, Reservations: true, Shareable: true,
	}
	iso := vmspec.Disk{
		ID: diskID(3), Bus: vmspec.BusSCSI, Device: vmspec.DeviceCDROM, TargetDev: "sdc",
		Address: addr(0, 0, 2), File: fileSource(3, vmspec.FormatRaw),
		ReadOnly: true, BootOrder: 2,
	}
	empty := vmspec.Disk{
		ID: diskID(4), Bus: vmspec.BusIDE, Device: vmspec.DeviceCDROM, TargetDev: "hdc",
		ReadOnly: true,
	}
	return vmspec.VM{
		ID: "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", Name: "lun-and-cdroms",
		MemoryMiB: 1024, VCPUs: 2, VirtType: vmspec.VirtQEMU,
		Controllers: []vmspec.Controller{{Index: 0}},
		Disks:       []vmspec.Disk{boot, lun, iso, empty},
		GuestAgent:  true,
	}
}
