package engine

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/vmspec"
)

// benchEnv is newEnv for benchmarks: a fresh SQLite database with the same
// topology.
func benchEnv(b *testing.B) *env {
	b.Helper()
	v := openEngineEnv(b, sqltest.SQLite(b))
	v.addTopology(b)
	return v
}

// benchLUNs adds n direct LUN disks (no host call, one transaction each).
func benchLUNs(b *testing.B, v *env, prefix string, n int) []model.Disk {
	b.Helper()
	out := make([]model.Disk, n)
	for i := range out {
		alias := fmt.Sprintf("%s-%d", prefix, i)
		d, err := v.e.AddDisk(v.ctx, DiskParams{Alias: &alias,
			LUN: &model.ISCSILun{Address: "127.0.0.1", Port: 3260, Target: "iqn.2026-11.dev.govirt:bench", LunMapping: i % 16384, LunID: alias}})
		if err != nil {
			b.Fatalf("add %s: %v", alias, err)
		}
		out[i] = d
	}
	return out
}

// benchPluggedRows writes n plugged virtio-scsi LUN disks of a VM with
// ctrls controllers in one transaction, addressed as the allocator
// addresses a VM from scratch (attaching them one command each takes long:
// see BenchmarkAttach1000DisksToStoppedVM).
func benchPluggedRows(b *testing.B, v *env, vmID string, n, ctrls int) {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	idx := make([]uint16, ctrls)
	for i := range idx {
		idx[i] = uint16(i)
	}
	addrs, err := scsi.AssignInOrder(scsi.DefaultLayout, idx, ids, "")
	if err != nil {
		b.Fatal(err)
	}
	err = v.st.Tx(v.ctx, func(tx store.Tx) error {
		for i, id := range ids {
			d := model.Disk{ID: id, Alias: fmt.Sprint("spec-", i), StorageType: model.StorageLUN, Status: model.DiskOK,
				LUN: &model.ISCSILun{Address: "127.0.0.1", Port: 3260, Target: "iqn.2026-11.dev.govirt:bench", LunMapping: i, LunID: id}}
			a := model.DiskAttachment{VMID: vmID, DiskID: id, Interface: model.InterfaceVirtIOSCSI, Active: true}
			dev := model.VmDevice{ID: id, VMID: vmID, Type: model.DeviceTypeDisk, Device: model.DeviceDisk, Address: &addrs[i],
				TargetDev: scsi.DeviceName(scsi.PrefixSCSI, i), Alias: "ua-" + id, Plugged: true, Managed: true}
			if err := errors.Join(tx.InsertDisk(v.ctx, d), tx.InsertAttachment(v.ctx, a), tx.InsertDevice(v.ctx, dev)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func benchVM(b *testing.B, v *env, name string, threads int) model.VM {
	b.Helper()
	vm, err := v.e.AddVM(v.ctx, VMParams{Name: &name, ClusterID: &v.cluster.ID, OSType: ptr("debian"), IOThreads: &threads})
	if err != nil {
		b.Fatalf("add vm %s: %v", name, err)
	}
	return vm
}

func benchAttach(b *testing.B, v *env, vmID string, disks []model.Disk) {
	b.Helper()
	p := AttachParams{Interface: ptr(model.InterfaceVirtIOSCSI), Active: ptr(true)}
	for _, d := range disks {
		if _, err := v.e.AttachDisk(v.ctx, vmID, d.ID, p); err != nil {
			b.Fatalf("attach %s: %v (%s)", d.Alias, err, apperr.KeyOf(err))
		}
	}
}

// BenchmarkAttach1000DisksToStoppedVM attaches 1,000 direct LUNs, active,
// on virtio-scsi, one command each, to a VM that is down: every command
// loads the VM's growing set of rows, allocates an address and commits.
// disks/s is the rate over the whole 1,000.
func BenchmarkAttach1000DisksToStoppedVM(b *testing.B) {
	const n = 1000
	v := benchEnv(b)
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		vm := benchVM(b, v, fmt.Sprint("bench", round), 0)
		disks := benchLUNs(b, v, fmt.Sprint("r", round), n)
		b.StartTimer()
		benchAttach(b, v, vm.ID, disks)
		b.StopTimer()
		checkInvariants(b, v, vm.ID)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*round)/b.Elapsed().Seconds(), "disks/s")
}

// BenchmarkBuildSpec1000PluggedDisks measures turning a VM with 1,000
// plugged virtio-scsi disks on four controllers into the agent's spec:
// "build" is buildSpec alone, "load+build" adds reading the rows, as RunVM
// and every hot plug do. (Address allocation itself is benchmarked up to
// 16,383 disks in internal/scsi: BenchmarkPlug16383.)
func BenchmarkBuildSpec1000PluggedDisks(b *testing.B) {
	const n = 1000
	v := benchEnv(b)
	vm := benchVM(b, v, "spec", 4)
	benchPluggedRows(b, v, vm.ID, n, 4)
	checkInvariants(b, v, vm.ID)
	load := func() (*vmState, map[string]model.StorageDomain) {
		var s *vmState
		var domains map[string]model.StorageDomain
		err := v.st.View(v.ctx, func(tx store.Tx) error {
			var err error
			if s, err = v.e.loadVM(v.ctx, tx, vm.ID, apperr.ActionRun, apperr.TypeVM); err != nil {
				return err
			}
			domains, err = storageDomainsOf(v.ctx, tx, s)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return s, domains
	}
	build := func(s *vmState, domains map[string]model.StorageDomain) vmspec.VM {
		spec, err := buildSpec(s, domains, "")
		if err != nil {
			b.Fatal(err)
		}
		return spec
	}
	if spec := build(load()); len(spec.Disks) != n || len(spec.Controllers) != 4 {
		b.Fatalf("spec has %d disks on %d controllers, want %d on 4", len(spec.Disks), len(spec.Controllers), n)
	}
	b.Run("build", func(b *testing.B) {
		s, domains := load()
		for b.Loop() {
			build(s, domains)
		}
	})
	b.Run("load+build", func(b *testing.B) {
		for b.Loop() {
			build(load())
		}
	})
}

// BenchmarkHotPlugIntoLargeVM hot-plugs one direct LUN (attach, active)
// into a running VM that already has n plugged virtio-scsi disks, through
// the engine with a recording host: the engine's share of every hot-plug
// as a domain grows toward 16,383 disks (the guest's share is measured by
// the bench/ suite). Each iteration adds one disk, so n grows by b.N.
func BenchmarkHotPlugIntoLargeVM(b *testing.B) {
	for _, n := range []int{1000, 4096, 16000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			v := benchEnv(b)
			vm := benchVM(b, v, "large", 0)
			benchPluggedRows(b, v, vm.ID, n, 1)
			if _, err := v.e.RunVM(v.ctx, vm.ID); err != nil {
				b.Fatal(err)
			}
			disks := benchLUNs(b, v, "plug", 64)
			i, refills := 0, 0
			var cpu time.Duration
			b.ResetTimer()
			for b.Loop() {
				if i == len(disks) {
					b.StopTimer()
					refills++ // each batch needs LUNs of its own
					disks, i = benchLUNs(b, v, fmt.Sprint("plug", refills), 64), 0
					b.StartTimer()
				}
				before := processCPU(b)
				benchAttach(b, v, vm.ID, disks[i:i+1])
				cpu += processCPU(b) - before
				i++
			}
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
