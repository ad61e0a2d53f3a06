package e2e

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/internal/vmspec"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// maxVirtIOBlk is how many virtio-blk disks fit the i440fx PCI bus of a VM
// with no other PCI device (measured on libvirt 9.0: see vmspec).
const maxVirtIOBlk = vmspec.PCISlotsI440FX

func TestVirtIOBlkFillsThePCIBus(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	dir, ids := ag.NewVolumes(ctx, t, maxVirtIOBlk+1, 1)

	bare := func(n int) vmspec.VM {
		vm := e2eutil.BaseVM(t)
		vm.GuestAgent, vm.Controllers = false, nil // no other PCI device
		for i := 0; i < n; i++ {
			vm.Disks = append(vm.Disks, e2eutil.VirtIODisk(dir, ids[i], scsi.DeviceName(scsi.PrefixVirtIO, i)))
		}
		return vm
	}

	tooMany := bare(maxVirtIOBlk + 1)
	err := ag.Client.StartVM(ctx, tooMany)
	if !errors.Is(err, agent.ErrPCISlotsExhausted) {
		_ = ag.Client.DestroyVM(ctx, tooMany.ID)
		t.Fatalf("%d virtio-blk disks: %v, want ErrPCISlotsExhausted", maxVirtIOBlk+1, err)
	}
	if !strings.Contains(strings.ToLower(err.Error()), "pci") {
		t.Errorf("error does not name the PCI slot limit: %v", err)
	}

	vm := bare(maxVirtIOBlk)
	ag.StartVM(ctx, t, vm)
	inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), hasAll(ids[:maxVirtIOBlk]))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range inv.Disks {
		if !strings.HasPrefix(d.Name, "vd") {
			t.Errorf("unexpected disk %s in a virtio-blk only guest", d.Name)
		}
	}

	// Hot-plugging one more into the full bus is refused the same way.
	extra := e2eutil.VirtIODisk(dir, ids[maxVirtIOBlk], scsi.DeviceName(scsi.PrefixVirtIO, maxVirtIOBlk))
	err = ag.Client.HotPlugDisk(ctx, vm.ID, extra)
	if !errors.Is(err, agent.ErrPCISlotsExhausted) {
		t.Errorf("hot-plug into a full PCI bus: %v, want ErrPCISlotsExhausted", err)
	}
}

func TestLUNPassThroughFromISCSITarget(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	vm := e2eutil.BaseVM(t)
	lun := vmspec.Disk{
		ID: "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sda",
		Address: &scsi.DriveAddress{Target: 1, Unit: 0}, SGIO: vmspec.SGIOFiltered,
		ISCSI: &vmspec.ISCSISource{Host: tg.Portal, Port: tg.Port, IQN: tg.IQN, LUN: 1},
	}
	vm.Disks = []vmspec.Disk{lun}
	ag.StartVM(ctx, t, vm)

	serial := tg.Serials[1]
	inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), func(inv testguest.Inventory) bool {
		for _, d := range inv.Disks {
			if d.Serial == serial {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	var dev testguest.Disk
	for _, d := range inv.Disks {
		if d.Serial == serial {
			dev = d
		}
	}
	// The guest sees the target's own identity, not QEMU's emulated disk.
	if dev.Vendor != "IET" || dev.Model != "VIRTUAL-DISK" {
		t.Errorf("guest sees vendor %q model %q, want IET VIRTUAL-DISK", dev.Vendor, dev.Model)
	}
	if dev.Target != 1 || dev.LUN != 0 {
		t.Errorf("LUN at %s, want target 1 LUN 0", dev.HCTL)
	}

	// Persistent reservations pass through to the target.
	path := "/dev/" + dev.Name
	run := func(args ...string) string {
		t.Helper()
		res, err := ag.Client.GuestExec(ctx, vm.ID, "/usr/bin/sg_persist", args, nil, time.Minute)
		if err != nil {
			t.Fatalf("sg_persist %v: %v", args, err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("sg_persist %v: exit %d: %s %s", args, res.ExitCode, res.Stdout, res.Stderr)
		}
		return string(res.Stdout)
	}
	waitGuestAgent(t, ag, vm.ID)
	run("--out", "--register", "--param-sark=0xabc123", path)
	if out := run("--in", "--read-keys", path); !strings.Contains(out, "0xabc123") {
		t.Errorf("read-keys after register does not show the key:\n%s", out)
	}
}

func waitGuestAgent(t *testing.T, ag *e2eutil.AgentProc, vmID string) {
	t.Helper()
	ctx := e2eutil.Context(t, 2*time.Minute)
	for {
		_, err := ag.Client.GuestDisks(ctx, vmID)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("guest agent never answered: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})

	// With the guest agent, and without it (ACPI power button).
	for _, withAgent := range []bool{true, false} {
		vm := e2eutil.BaseVM(t)
		vm.GuestAgent = withAgent
		ag.StartVM(ctx, t, vm)
		if err := testguest.WaitReady(ctx, ag.ConsolePath(vm.ID)); err != nil {
			t.Fatal(err)
		}
		if withAgent {
			waitGuestAgent(t, ag, vm.ID)
		}
		if err := ag.Client.ShutdownVM(ctx, vm.ID, 2*time.Minute); err != nil {
			t.Fatalf("shutdown (guest agent %v): %v", withAgent, err)
		}
		vms, err := ag.Client.ListVMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vms {
			if v.ID == vm.ID {
				t.Fatalf("vm still listed after shutdown: %+v", v)
			}
		}
		// The guest powered itself off: it says so on its console, which a
		// forced power-off would not let it do.
		b, err := os.ReadFile(ag.ConsolePath(vm.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), guestPowerOffMarker) {
			t.Errorf("guest agent %v: the guest did not power itself off; console tail:\n%s", withAgent, lastLines(string(b), 20))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestAgentsSharingLibvirtdSeeOnlyTheirOwnVMs(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 2*time.Minute)
	a := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	b := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	vm := e2eutil.BaseVM(t)
	a.StartVM(ctx, t, vm)

	listed := func(ag *e2eutil.AgentProc) bool {
		vms, err := ag.Client.ListVMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vms {
			if v.ID == vm.ID {
				return true
			}
		}
		return false
	}
	if !listed(a) {
		t.Errorf("agent A does not list its own vm")
	}
	if listed(b) {
		t.Errorf("agent B lists agent A's vm")
	}
	if err := b.Client.DestroyVM(ctx, vm.ID); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("agent B destroying A's vm: %v, want ErrNotFound", err)
	}
	if _, err := b.Client.LiveVM(ctx, vm.ID); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("agent B reading A's vm: %v, want ErrNotFound", err)
	}
	if !listed(a) {
		t.Errorf("agent A lost its vm after B's attempts")
	}
	if err := a.Client.StartVM(ctx, vm); !errors.Is(err, agent.ErrAlreadyRunning) {
		t.Errorf("starting a running vm again: %v, want ErrAlreadyRunning", err)
	}
}

// guestPowerOffMarker is what the test guest's /sbin/shutdown prints before
// it powers off: a guest that was forced off never prints it.
const guestPowerOffMarker = "GOVIRT-SHUTDOWN poweroff"
