package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

// bigSpec is testSpec with n image disks on virtio-SCSI, the first bootable
// when boot is set.
func bigSpec(n int, boot bool) vmspec.VM {
	vm := testSpec()
	vm.Disks = nil
	for i := range n {
		id := fmt.Sprintf("0b7f3a10-1111-4c2d-8e9f-%012d", i)
		d := vmspec.Disk{ID: id, Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: scsi.DeviceName("sd", i),
			Address: &scsi.DriveAddress{Target: uint16(i / 256), Unit: uint16(i % 256)}, Serial: id,
			File: &vmspec.FileSource{DomainDir: "/var/lib/govirt/storage/local", VolumeID: id, Format: vmspec.FormatQCOW2}}
		if i == 0 && boot {
			d.BootOrder = 1
		}
		vm.Disks = append(vm.Disks, d)
	}
	return vm
}

func ids(disks []vmspec.Disk) []string {
	out := make([]string, len(disks))
	for i, d := range disks {
		out[i] = d.ID
	}
	return out
}

func TestSplitStart(t *testing.T) {
	const argMax = 2 << 20 // the kernel's limit at an 8 MiB stack
	cdrom := vmspec.Disk{ID: "cd", Bus: vmspec.BusSATA, Device: vmspec.DeviceCDROM, TargetDev: "sda"}
	blk := vmspec.Disk{ID: "vd", Bus: vmspec.BusVirtIO, Device: vmspec.DeviceDisk, TargetDev: "vda",
		File: &vmspec.FileSource{DomainDir: "/sd", VolumeID: "vd", Format: vmspec.FormatRaw}}
	mixed := bigSpec(10, true)
	mixed.Disks = append(mixed.Disks, cdrom, blk)
	tests := []struct {
		name       string
		vm         vmspec.VM
		lim        startLimits
		cold       int // disks created with the domain
		wantStaged bool
		check      func(t *testing.T, cold, staged []vmspec.Disk)
	}{
		{name: "small VM starts in one go", vm: bigSpec(40, true), lim: startLimits{ArgBytes: argMax}, cold: 40},
		{name: "1,000 disks fit", vm: bigSpec(1000, true), lim: startLimits{ArgBytes: argMax}, cold: 1000},
		{name: "4,096 disks do not fit 2 MiB", vm: bigSpec(4096, true), lim: startLimits{ArgBytes: argMax}, wantStaged: true,
			check: func(t *testing.T, cold, _ []vmspec.Disk) {
				if len(cold) < 1500 || len(cold) > 3000 {
					t.Errorf("%d disks cold: want the 1,500 to 3,000 that three quarters of 2 MiB hold", len(cold))
				}
			}},
		{name: "4,096 disks fit an unlimited stack (6 MiB)", vm: bigSpec(4096, true), lim: startLimits{ArgBytes: argMaxForStack(0)}, cold: 4096},
		{name: "16,383 disks do not fit 6 MiB", vm: bigSpec(16383, true), lim: startLimits{ArgBytes: argMaxForStack(0)}, wantStaged: true},
		{name: "forced: at most 4 cold", vm: bigSpec(20, true), lim: startLimits{ArgBytes: argMax, MaxColdDisks: 4}, cold: 5, wantStaged: true,
			check: func(t *testing.T, cold, staged []vmspec.Disk) {
				if cold[0].BootOrder != 1 {
					t.Errorf("the boot disk is not cold: %v", ids(cold))
				}
				if len(staged) != 15 {
					t.Errorf("%d staged, want 15", len(staged))
				}
			}},
		{name: "forced threshold not reached", vm: bigSpec(4, false), lim: startLimits{ArgBytes: argMax, MaxColdDisks: 4}, cold: 4},
		{name: "forced threshold exceeded by one", vm: bigSpec(5, false), lim: startLimits{ArgBytes: argMax, MaxColdDisks: 4}, cold: 4, wantStaged: true},
		{name: "cdrom and virtio-blk always cold", vm: mixed, lim: startLimits{ArgBytes: argMax, MaxColdDisks: 2}, cold: 5, wantStaged: true,
			check: func(t *testing.T, cold, staged []vmspec.Disk) {
				if !slices.Contains(ids(cold), "cd") || !slices.Contains(ids(cold), "vd") {
					t.Errorf("cold %v: want the cdrom and the virtio-blk disk", ids(cold))
				}
				for _, d := range staged {
					if !stageable(d) {
						t.Errorf("%s staged", d.ID)
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cold, staged := splitStart(tt.vm, tt.lim)
			if (staged != nil) != tt.wantStaged {
				t.Fatalf("staged %d disks, want staging %v", len(staged), tt.wantStaged)
			}
			if tt.cold != 0 && len(cold) != tt.cold {
				t.Errorf("%d disks cold, want %d", len(cold), tt.cold)
			}
			if len(cold)+len(staged) != len(tt.vm.Disks) {
				t.Fatalf("%d cold + %d staged of %d disks", len(cold), len(staged), len(tt.vm.Disks))
			}
			// Nothing lost, nothing twice, each part in the spec's order.
			all := append(ids(cold), ids(staged)...)
			slices.Sort(all)
			want := ids(tt.vm.Disks)
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Errorf("cold and staged are not the spec's disks")
			}
			if first := (vmspec.VM{Name: tt.vm.Name, Boot: tt.vm.Boot, Disks: cold}); tt.wantStaged && tt.lim.MaxColdDisks == 0 &&
				vmArgBytes(first) > tt.lim.ArgBytes*argBudgetNum/argBudgetDen {
				t.Errorf("cold part estimated at %d bytes, over the budget", vmArgBytes(first))
			}
			if tt.check != nil {
				tt.check(t, cold, staged)
			}
		})
	}
}

// libvirtDiskArgv is the argv libvirt 9.0 gave QEMU 7.2 for one qcow2
// disk of a govirt VM (/proc/PID/cmdline of a 16,383-disk VM's QEMU; ids
// replaced by 36-byte placeholders, the node-name index by %d).
var libvirtDiskArgv = []string{
	"-blockdev", `{"driver":"file","filename":"%s","node-name":"libvirt-%d-storage","cache":{"direct":true,"no-flush":false},"auto-read-only":true,"discard":"unmap"}`,
	"-blockdev", `{"node-name":"libvirt-%d-format","read-only":false,"cache":{"direct":true,"no-flush":false},"driver":"qcow2","file":"libvirt-%d-storage","backing":null}`,
	"-device", `{"driver":"scsi-hd","bus":"scsi%d.0","channel":0,"scsi-id":%d,"lun":%d,"device_id":"%s","drive":"libvirt-%d-format","id":"ua-%s","write-cache":"on","serial":"%s","werror":"stop","rerror":"stop"}`,
}

// TestDiskArgBytesCoversLibvirtsArguments: the estimate of a disk's share
// of QEMU's arguments is never below what libvirt passes, at the longest
// node names, bus and unit numbers, and at most 10% above it.
func TestDiskArgBytesCoversLibvirtsArguments(t *testing.T) {
	for _, dir := range []string{"/var/lib/govirt/storage/local", "/tmp/govirt-e2e-76033122/state/storage/local", "/srv/a"} {
		for _, shape := range []struct{ node, ctrl, target, lun int }{{1, 0, 0, 1}, {6000, 6, 0, 59}, {16383, 15, 255, 63}} {
			d := bigSpec(1, false).Disks[0]
			d.File.DomainDir = dir
			path := filepath.Join(dir, d.File.VolumeID)
			actual := 0
			for i, a := range libvirtDiskArgv {
				if i%2 == 1 {
					switch i {
					case 1:
						a = fmt.Sprintf(a, path, shape.node)
					case 3:
						a = fmt.Sprintf(a, shape.node, shape.node)
					case 5:
						a = fmt.Sprintf(a, shape.ctrl, shape.target, shape.lun, d.Serial, shape.node, d.ID, d.Serial)
					}
				}
				actual += len(a) + 1 + 8 // the string, its NUL, its argv pointer
			}
			got := diskArgBytes(d)
			if got < actual || float64(got) > 1.1*float64(actual) {
				t.Errorf("path %s, node %d: estimate %d bytes, libvirt passes %d (want between that and 10%% more)", path, shape.node, got, actual)
			}
		}
	}
}

func TestArgMaxForStack(t *testing.T) {
	tests := []struct {
		stack uint64
		want  int
	}{
		{8 << 20, 2 << 20},
		{0, 6 << 20},           // unlimited: three quarters of _STK_LIM
		{64 << 20, 6 << 20},    // capped the same way
		{16 << 20, 4 << 20},    // a quarter
		{256 << 10, 128 << 10}, // never below ARG_MAX's 32 pages
	}
	for _, tt := range tests {
		if got := argMaxForStack(tt.stack); got != tt.want {
			t.Errorf("argMaxForStack(%d) = %d, want %d", tt.stack, got, tt.want)
		}
	}
}

func TestParseStackLimit(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n"
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{head + "Max stack size            8388608              unlimited            bytes     \n", 8 << 20, false},
		{head + "Max stack size            unlimited            unlimited            bytes     \n", 0, false},
		{head, 0, true},
		{head + "Max stack size            lots                 unlimited            bytes     \n", 0, true},
	}
	for i, tt := range tests {
		got, err := parseStackLimit(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("case %d: %d, %v; want %d, error %v", i, got, err, tt.want, tt.wantErr)
		}
	}
}

func stagedAgent(t *testing.T, hv *fakeHV, maxCold int) *Agent {
	t.Helper()
	a, err := New(Config{HostID: testHost, VirtType: vmspec.VirtQEMU, StateDir: t.TempDir(), ArgBytes: 2 << 20, MaxColdDisks: maxCold}, hv, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStagedStartAttachesTheRestBeforeTheGuestRuns(t *testing.T) {
	hv := newFakeHV()
	a := stagedAgent(t, hv, 4)
	vm := bigSpec(12, true)
	var liveErrs []error
	hv.during = func() {
		_, err := a.LiveVM(context.Background(), vm.ID)
		liveErrs = append(liveErrs, err)
	}
	if err := a.StartVM(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	want := []string{"create-paused " + vm.ID}
	for range 7 {
		want = append(want, "attach "+vm.ID)
	}
	want = append(want, "resume "+vm.ID)
	if !slices.Equal(hv.calls, want) {
		t.Fatalf("calls %v, want %v", hv.calls, want)
	}
	created, err := domxml.ParseLive(hv.xmls[0])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(created.Devices) - 1; n != 5 { // one is the controller
		t.Errorf("domain created with %d disks, want 5", n)
	}
	for i, x := range hv.xmls[1:] {
		d := vm.Disks[5+i]
		wantAddr := fmt.Sprintf("<address type=\"drive\" controller=\"0\" bus=\"0\" target=\"%d\" unit=\"%d\"></address>", d.Address.Target, d.Address.Unit)
		if !strings.Contains(x, d.Alias()) || !strings.Contains(x, wantAddr) {
			t.Errorf("attach %d is not disk %s at %v:\n%s", i, d.ID, d.Address, x)
		}
	}
	for _, err := range liveErrs {
		if !errors.Is(err, ErrStarting) {
			t.Errorf("LiveVM while staging: %v, want ErrStarting", err)
		}
	}
	if _, err := a.LiveVM(context.Background(), vm.ID); err != nil {
		t.Errorf("LiveVM once started: %v", err)
	}
}

func TestStagedStartFailureDestroysTheDomain(t *testing.T) {
	hv := newFakeHV()
	a := stagedAgent(t, hv, 2)
	vm := bigSpec(8, false)
	boom := errors.New("qemu said no")
	hv.attach = func(n int) error {
		if n == 3 {
			return boom
		}
		return nil
	}
	err := a.StartVM(context.Background(), vm)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "3 of 6 staged") {
		t.Fatalf("StartVM: %v, want the attach error, wrapped with where it stopped", err)
	}
	if last := hv.calls[len(hv.calls)-1]; last != "destroy "+vm.ID {
		t.Errorf("calls %v: the half-started domain was not destroyed", hv.calls)
	}
	if _, err := a.LiveVM(context.Background(), vm.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("LiveVM after the failed start: %v, want ErrNotFound", err)
	}
}

// errE2BIG is a QEMU the kernel would not execute, as the libvirt
// connection reports it (libvirtconn.mapErr, TestMapErr).
var errE2BIG = fmt.Errorf("%w: internal error: process exited while connecting to monitor: libvirt:  error : "+
	"cannot execute binary /usr/bin/qemu-system-x86_64: Argument list too long", ErrArgListTooLong)

// TestStartRetriesWithFewerDisksWhenTheKernelRefusesTheArguments: a host
// whose real limit is below the estimate's still starts the VM, staging more disks each time, and the
// guest gets every disk. Each try keeps three quarters of the last.
func TestStartRetriesWithFewerDisksWhenTheKernelRefusesTheArguments(t *testing.T) {
	for _, tt := range []struct {
		name    string
		disks   int
		refuse  int // creates with more devices than this are refused
		creates int // tries until one is accepted
	}{
		{"a start in one go becomes staged", 400, 300, 2},
		{"a staged start stages more, twice", 4000, 1500, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFakeHV()
			hv.create = func(devices int) error {
				if devices > tt.refuse {
					return errE2BIG
				}
				return nil
			}
			a := stagedAgent(t, hv, 0) // 2 MiB: about 2,200 of these disks cold
			vm := bigSpec(tt.disks, true)
			if err := a.StartVM(context.Background(), vm); err != nil {
				t.Fatalf("StartVM: %v (calls %v)", err, hv.calls[:min(len(hv.calls), 5)])
			}
			refused := 0
			attached := 0
			for _, c := range hv.calls {
				switch {
				case strings.HasPrefix(c, "create-refused"):
					refused++
				case strings.HasPrefix(c, "attach"):
					attached++
				}
			}
			if refused != tt.creates-1 {
				t.Errorf("%d creates refused, want %d", refused, tt.creates-1)
			}
			created, err := domxml.ParseLive(hv.xmls[0]) // refused creates keep no XML
			if err != nil {
				t.Fatal(err)
			}
			cold := len(created.Devices) - 1 // one is the controller
			if cold+attached != tt.disks || cold > tt.refuse {
				t.Errorf("%d disks cold and %d attached, want %d in all and at most %d cold", cold, attached, tt.disks, tt.refuse)
			}
			if last := hv.calls[len(hv.calls)-1]; last != "resume "+vm.ID {
				t.Errorf("last call %q, want the resume", last)
			}
		})
	}
}

// TestStartGivesUpOnArgumentsAfterRetries: a host that refuses every try
// gets an error that says why, after argRetries tries, and no domain.
func TestStartGivesUpOnArgumentsAfterRetries(t *testing.T) {
	hv := newFakeHV()
	hv.create = func(int) error { return errE2BIG }
	a := stagedAgent(t, hv, 0)
	vm := bigSpec(50, true)
	err := a.StartVM(context.Background(), vm)
	if !errors.Is(err, ErrArgListTooLong) {
		t.Fatalf("StartVM: %v, want ErrArgListTooLong", err)
	}
	if n := len(hv.calls); n != argRetries {
		t.Errorf("calls %v, want %d refused creates", hv.calls, argRetries)
	}
	if _, err := a.LiveVM(context.Background(), vm.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("LiveVM after the failed start: %v, want ErrNotFound", err)
	}
	// Another error is not retried.
	hv = newFakeHV()
	boom := errors.New("qemu said no")
	hv.create = func(int) error { return boom }
	a = stagedAgent(t, hv, 0)
	if err := a.StartVM(context.Background(), vm); !errors.Is(err, boom) || len(hv.calls) != 1 {
		t.Errorf("StartVM: %v after calls %v, want boom after one create", err, hv.calls)
	}
}
