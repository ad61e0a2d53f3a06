package agent

import (
	"path/filepath"

	"github.com/govirt/govirt/internal/vmspec"
)

// A domain with thousands of disks cannot be created in one go: libvirt
// passes each disk to QEMU as two -blockdev and one -device arguments, about
// 760 bytes per disk, and execve refuses an argument list beyond the
// kernel's limit (a quarter of the stack rlimit: 2 MiB, about 2,700 disks,
// at the default 8 MiB; at most 6 MiB). Such a VM is started in stages: the domain is
// created paused with the disks that fit, the others are attached live
// (QEMU's device_add, no guest involved: its CPUs have not run yet), and
// only then does it run, so the guest finds every disk as if cold-plugged.

// startLimits is what decides whether and where a start is split.
type startLimits struct {
	// ArgBytes is the kernel's limit on the argument and environment bytes
	// of the QEMU process libvirtd runs (see argMaxForStack).
	ArgBytes int
	// MaxColdDisks, when positive, caps the stageable disks the domain is
	// created with whatever their size (Config.MaxColdDisks).
	MaxColdDisks int
}

// Estimates of QEMU's arguments, measured on the argv (/proc/PID/cmdline)
// of QEMU 7.2 as libvirt 9.0 started it for a VM with 6,419 qcow2 disks:
// 758.5 bytes a disk with an 81-byte path and a 36-byte id and serial,
// NULs and argv pointers counted. TestDiskArgBytesCoversLibvirtsArguments
// holds the estimate between that and 10% above it.
const (
	// argBytesPerDisk is a disk's fixed part: the JSON of its two
	// -blockdev and one -device arguments (node names up to five digits,
	// cache, error policy), the option names, the NULs and the eight bytes
	// of each of the six argv pointers.
	argBytesPerDisk = 600
	// argBytesBase is everything but the disks: the machine, CPUs, memory,
	// controllers, console, guest agent channel, monitor and environment
	// (about 5.5 KiB here), with room for more.
	argBytesBase = 32 << 10
	// argBudgetShare is the share of the limit a start may fill: the
	// estimate is a little above the truth and libvirt's environment
	// differs from host to host. A start refused all the same (E2BIG) is
	// retried with fewer disks in the domain (coldShrink).
	argBudgetNum, argBudgetDen = 7, 8
)

// diskArgBytes estimates the bytes one disk adds to QEMU's argument list:
// its id appears once more (the alias "ua-<id>"), its serial twice
// (serial and device_id).
func diskArgBytes(d vmspec.Disk) int {
	n := argBytesPerDisk + len(d.ID) + 2*len(d.Serial)
	switch {
	case d.File != nil:
		n += len(filepath.Join(d.File.DomainDir, d.File.VolumeID))
	case d.ISCSI != nil:
		// Not re-measured: the earlier estimate's total, kept.
		n += 2*len(d.ISCSI.Host) + 2*len(d.ISCSI.IQN) + 32 + len(d.ID)
	}
	return n
}

// vmArgBytes estimates the whole argument list of vm's QEMU process.
func vmArgBytes(vm vmspec.VM) int {
	n := argBytesBase + len(vm.Name) + len(vm.Boot.Kernel) + len(vm.Boot.Initrd) + len(vm.Boot.Cmdline)
	for _, d := range vm.Disks {
		n += diskArgBytes(d)
	}
	return n
}

// stageable says whether a disk may be attached after the domain is
// created: virtio-SCSI disks and LUNs that the firmware does not boot from.
// CD-ROMs (IDE and SATA cannot be hot-plugged), virtio-blk disks (each
// takes a PCI slot the start checks) and boot disks are always in the
// domain from the start.
func stageable(d vmspec.Disk) bool {
	return d.Bus == vmspec.BusSCSI && (d.Device == vmspec.DeviceDisk || d.Device == vmspec.DeviceLUN) && d.BootOrder == 0
}

// splitStart decides how vm starts: cold are the disks the domain is
// created with, staged (nil when it starts in one go) those attached
// before it runs, both in the spec's order. Disks go cold in order while
// the estimated argument list stays within the budget, and every disk that
// is not stageable goes cold regardless.
func splitStart(vm vmspec.VM, lim startLimits) (cold, staged []vmspec.Disk) {
	budget := lim.ArgBytes / argBudgetDen * argBudgetNum
	fits := func(coldStageable int) bool {
		return lim.MaxColdDisks <= 0 || coldStageable < lim.MaxColdDisks
	}
	if vmArgBytes(vm) <= budget && (lim.MaxColdDisks <= 0 || countStageable(vm.Disks) <= lim.MaxColdDisks) {
		return vm.Disks, nil
	}
	used := vmArgBytes(vmspec.VM{Name: vm.Name, Boot: vm.Boot})
	for _, d := range vm.Disks {
		if !stageable(d) {
			used += diskArgBytes(d)
		}
	}
	n := 0
	for _, d := range vm.Disks {
		switch {
		case !stageable(d):
			cold = append(cold, d)
		case fits(n) && used+diskArgBytes(d) <= budget:
			cold = append(cold, d)
			used += diskArgBytes(d)
			n++
		default:
			staged = append(staged, d)
		}
	}
	return cold, staged
}

// shrinkLimits is lim for a new try after the domain with tried's disks
// was refused as too long: a budget of three quarters of tried's estimate.
func shrinkLimits(lim startLimits, tried vmspec.VM) startLimits {
	lim.ArgBytes = vmArgBytes(tried) / 4 * 3 / argBudgetNum * argBudgetDen
	return lim
}

func countStageable(disks []vmspec.Disk) int {
	n := 0
	for _, d := range disks {
		if stageable(d) {
			n++
		}
	}
	return n
}

// Linux limits of execve (fs/exec.c): the argument and environment
// strings may take a quarter of the stack rlimit, at most three quarters
// of _STK_LIM (8 MiB) and at least ARG_MAX (32 pages).
const (
	kernelStackLim = 8 << 20
	kernelArgMin   = 32 * 4096
)

// argMaxForStack is the kernel's limit on a new program's arguments for a
// process whose stack rlimit (soft) is stack bytes; 0 means unlimited.
func argMaxForStack(stack uint64) int {
	limit := uint64(kernelStackLim / 4 * 3)
	if stack != 0 && stack/4 < limit {
		limit = stack / 4
	}
	return int(max(limit, kernelArgMin))
}
