package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/internal/vmspec"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// policyGuest is a booted test guest with a pass-through LUN behind the
// agent's SCSI command policy proxy.
type policyGuest struct {
	t   *testing.T
	ctx context.Context
	ag  *e2eutil.AgentProc
	vm  vmspec.VM
	dev string // /dev/sdX in the guest
}

// bootSharedLUNGuests boots n guests sharing LUN 1 of tg under the
// filtered policy and waits until each sees it and answers through its
// guest agent.
func bootSharedLUNGuests(ctx context.Context, t *testing.T, ag *e2eutil.AgentProc, tg *e2eutil.ISCSITarget, diskID string, n int) []*policyGuest {
	t.Helper()
	guests := make([]*policyGuest, n)
	for i := range guests {
		vm := e2eutil.BaseVM(t)
		vm.Disks = []vmspec.Disk{{ID: diskID, Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sda",
			Address: &scsi.DriveAddress{Target: 1}, SGIO: vmspec.SGIOFiltered, Shareable: true,
			ISCSI:      &vmspec.ISCSISource{Host: tg.Portal, Port: tg.Port, IQN: tg.IQN, LUN: 1},
			SCSIPolicy: &scsipolicy.Spec{Name: scsipolicy.NameFiltered}}}
		ag.StartVM(ctx, t, vm)
		guests[i] = &policyGuest{t: t, ctx: ctx, ag: ag, vm: vm}
	}
	var wg sync.WaitGroup
	for _, g := range guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(g.vm.ID), func(inv testguest.Inventory) bool {
				_, ok := inv.BySerial(tg.Serials[1])
				return ok
			})
			if err != nil {
				t.Error(err)
				return
			}
			d, _ := inv.BySerial(tg.Serials[1])
			g.dev = "/dev/" + d.Name
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, g := range guests {
		waitGuestAgent(t, ag, g.vm.ID)
	}
	return guests
}

// exec runs a program in the guest and returns its exit code and output.
func (g *policyGuest) exec(stdin []byte, path string, args ...string) (int, string) {
	g.t.Helper()
	res, err := g.ag.Client.GuestExec(g.ctx, g.vm.ID, path, args, stdin, time.Minute)
	if err != nil {
		g.t.Fatalf("%s %v: %v", path, args, err)
	}
	return res.ExitCode, string(res.Stdout) + string(res.Stderr)
}

// mustRun runs a program in the guest that must succeed.
func (g *policyGuest) mustRun(path string, args ...string) string {
	g.t.Helper()
	code, out := g.exec(nil, path, args...)
	if code != 0 {
		g.t.Fatalf("%s %v: exit %d\n%s", path, args, code, out)
	}
	return out
}

// refused runs a program in the guest whose command the proxy must refuse.
func (g *policyGuest) refused(what string, stdin []byte, path string, args ...string) {
	g.t.Helper()
	code, out := g.exec(stdin, path, args...)
	if code == 0 || !(strings.Contains(out, "Invalid command operation code") || strings.Contains(out, "not supported")) {
		g.t.Errorf("%s in the guest: exit %d, want a refusal (invalid command operation code):\n%s", what, code, out)
	}
}

// TestGuestSCSIPolicyOnSharedLUN boots two guests sharing a tgtd LUN with
// the filtered policy: in the guest, sg3-utils' PERSISTENT RESERVE OUT,
// WRITE BUFFER, FORMAT UNIT and a vendor-specific code fail with ILLEGAL
// REQUEST, INVALID COMMAND OPERATION CODE, reads and writes work, and tgtd,
// read directly, holds no key. The policy then changes live to
// "reservations" through the agent's RPC: register, reserve and release
// work, and each guest sees the other's reservation; and to "unfiltered",
// under which FORMAT UNIT reaches tgtd.
func TestGuestSCSIPolicyOnSharedLUN(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	const diskID = "7a4e2c1b-3d5f-4e6a-8b9c-0d1e2f3a4b5c"
	guests := bootSharedLUNGuests(ctx, t, ag, tg, diskID, 2)
	vm1, vm2 := guests[0], guests[1]

	// Filtered: reads and writes work, the privileged commands do not.
	vm1.mustRun("/usr/bin/sg_inq", vm1.dev)
	vm1.mustRun("/usr/bin/sg_readcap", vm1.dev)
	vm1.mustRun("/bin/busybox", "dd", "if=/dev/zero", "of="+vm1.dev, "bs=4096", "count=16", "oflag=direct")
	vm1.mustRun("/bin/busybox", "dd", "if="+vm1.dev, "of=/dev/null", "bs=4096", "count=16", "iflag=direct")
	vm1.refused("sg_persist --register", nil, "/usr/bin/sg_persist", "--out", "--register", "--param-sark=0x1111", vm1.dev)
	vm1.refused("WRITE BUFFER", make([]byte, 512), "/usr/bin/sg_raw", "-s", "512", vm1.dev, "3b", "02", "00", "00", "00", "00", "00", "02", "00", "00")
	vm1.refused("FORMAT UNIT", nil, "/usr/bin/sg_raw", vm1.dev, "04", "00", "00", "00", "00", "00")
	vm1.refused("vendor-specific 0xc0", nil, "/usr/bin/sg_raw", "-r", "512", vm1.dev, "c0", "00", "00", "00", "00", "00", "00", "00", "00", "00")
	direct := dialLUN(ctx, t, tg.PortalAddr(), tg.IQN, "iqn.2026-11.dev.govirt:auditor", false)
	if keys := readKeys(ctx, t, direct); len(keys) != 0 {
		t.Fatalf("tgtd holds keys %x registered from a filtered guest", keys)
	}
	stats, err := ag.Client.SCSIPolicyStats(ctx, vm1.vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := stats[diskID]; st.Refused < 4 {
		t.Errorf("vm1's proxy counted %+v, want at least the 4 refusals", st)
	}
	assertKernelEnforced(t, ag.Log())

	// Live change to the reservations policy: both guests share a reservation.
	for _, g := range guests {
		if err := ag.Client.SetSCSIPolicy(ctx, g.vm.ID, diskID, scsipolicy.Presets()[0]); err != nil {
			t.Fatalf("SetSCSIPolicy: %v", err)
		}
	}
	for i, g := range guests {
		g.mustRun("/usr/bin/sg_persist", "--out", "--register", fmt.Sprintf("--param-sark=0x%d%d%d%d", i+1, i+1, i+1, i+1), g.dev)
	}
	vm1.mustRun("/usr/bin/sg_persist", "--out", "--reserve", "--param-rk=0x1111", "--prout-type=1", vm1.dev)
	if out := vm2.mustRun("/usr/bin/sg_persist", "--in", "--read-reservation", vm2.dev); !strings.Contains(out, "0x1111") {
		t.Errorf("vm2 does not see vm1's reservation:\n%s", out)
	}
	if out := vm1.mustRun("/usr/bin/sg_persist", "--in", "--read-keys", vm1.dev); !strings.Contains(out, "0x2222") {
		t.Errorf("vm1 does not see vm2's key:\n%s", out)
	}
	vm1.mustRun("/usr/bin/sg_persist", "--out", "--release", "--param-rk=0x1111", "--prout-type=1", vm1.dev)
	if out := vm2.mustRun("/usr/bin/sg_persist", "--in", "--read-reservation", vm2.dev); strings.Contains(out, "0x1111") {
		t.Errorf("vm2 still sees vm1's reservation after release:\n%s", out)
	}
	if keys := readKeys(ctx, t, direct); !slices.Equal(keys, []uint64{0x1111, 0x2222}) {
		t.Errorf("tgtd holds keys %x, want 1111 and 2222", keys)
	}
	vm2.refused("WRITE BUFFER under reservations", make([]byte, 512), "/usr/bin/sg_raw", "-s", "512", vm2.dev, "3b", "02", "00", "00", "00", "00", "00", "02", "00", "00")
	vm2.refused("FORMAT UNIT under reservations", nil, "/usr/bin/sg_raw", vm2.dev, "04", "00", "00", "00", "00", "00")

	// Unfiltered: FORMAT UNIT, which tgtd implements, now reaches it.
	if err := ag.Client.SetSCSIPolicy(ctx, vm2.vm.ID, diskID, scsipolicy.Spec{Name: scsipolicy.NameUnfiltered}); err != nil {
		t.Fatalf("SetSCSIPolicy unfiltered: %v", err)
	}
	before, err := ag.Client.SCSIPolicyStats(ctx, vm2.vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	vm2.mustRun("/usr/bin/sg_raw", vm2.dev, "04", "00", "00", "00", "00", "00")
	after, err := ag.Client.SCSIPolicyStats(ctx, vm2.vm.ID)
	if err != nil || after[diskID].Refused != before[diskID].Refused || after[diskID].Commands <= before[diskID].Commands {
		t.Errorf("unfiltered proxy stats went from %+v to %+v (%v): FORMAT UNIT must pass", before[diskID], after[diskID], err)
	}
}

// TestGuestLUNProxyHotPlugAndAgentRestart: a LUN with a policy hot-plugs
// behind its own proxy and hot-unplugs with it; then the agent restarts
// under a running guest, the new agent listens again where QEMU's
// initiator reconnects, so the guest reads its LUN and the policy still
// holds.
func TestGuestLUNProxyHotPlugAndAgentRestart(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 6*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 2, 64)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	vm := e2eutil.BaseVM(t)
	lun := func(id string, n uint32, target uint16, dev string) vmspec.Disk {
		return vmspec.Disk{ID: id, Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: dev,
			Address: &scsi.DriveAddress{Target: target}, SGIO: vmspec.SGIOFiltered,
			ISCSI:      &vmspec.ISCSISource{Host: tg.Portal, Port: tg.Port, IQN: tg.IQN, LUN: n},
			SCSIPolicy: &scsipolicy.Spec{Name: scsipolicy.NameFiltered}}
	}
	first := lun("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", 1, 1, "sda")
	second := lun("6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c", 2, 2, "sdb")
	vm.Disks = []vmspec.Disk{first}
	ag.StartVM(ctx, t, vm)
	devOf := func(serial string) string {
		t.Helper()
		inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), func(inv testguest.Inventory) bool {
			_, ok := inv.BySerial(serial)
			return ok
		})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := inv.BySerial(serial)
		return "/dev/" + d.Name
	}
	exec := func(path string, args ...string) (int, string) {
		t.Helper()
		res, err := ag.Client.GuestExec(ctx, vm.ID, path, args, nil, 3*time.Minute)
		if err != nil {
			t.Fatalf("%s %v: %v", path, args, err)
		}
		return res.ExitCode, string(res.Stdout) + string(res.Stderr)
	}
	dev := devOf(tg.Serials[1])
	waitGuestAgent(t, ag, vm.ID)

	// Hot-plug: the second LUN gets its own proxy, which refuses PR OUT.
	if err := ag.Client.HotPlugDisk(ctx, vm.ID, second); err != nil {
		t.Fatalf("hot-plug a LUN with a policy: %v", err)
	}
	dev2 := devOf(tg.Serials[2])
	if code, out := exec("/usr/bin/sg_persist", "--out", "--register", "--param-sark=0x66", dev2); code == 0 {
		t.Errorf("PR OUT on the hot-plugged LUN was not refused:\n%s", out)
	}
	stats, err := ag.Client.SCSIPolicyStats(ctx, vm.ID)
	if err != nil || stats[second.ID].Refused == 0 {
		t.Errorf("the hot-plugged LUN's proxy refused nothing: %+v %v", stats, err)
	}
	if err := ag.Client.HotUnplugDisk(ctx, vm.ID, second.ID, 0); err != nil {
		t.Fatalf("hot-unplug: %v", err)
	}
	if stats, err := ag.Client.SCSIPolicyStats(ctx, vm.ID); err != nil || len(stats) != 1 {
		t.Errorf("after the unplug the VM has proxies %+v (%v), want only the first LUN's", stats, err)
	}

	// Restart: QEMU reconnects to the restored proxy.
	ag.Restart(t)
	waitGuestAgent(t, ag, vm.ID)
	if code, out := exec("/bin/busybox", "dd", "if="+dev, "of=/dev/null", "bs=65536", "count=64", "iflag=direct"); code != 0 {
		t.Fatalf("reading the LUN after the agent restarted: exit %d\n%s", code, out)
	}
	if code, out := exec("/usr/bin/sg_persist", "--out", "--register", "--param-sark=0x77", dev); code == 0 {
		t.Errorf("PR OUT after the restart was not refused: the restored proxy must still enforce filtered\n%s", out)
	}
	stats, err = ag.Client.SCSIPolicyStats(ctx, vm.ID)
	if err != nil || stats[first.ID].Connections == 0 || stats[first.ID].Refused == 0 {
		t.Errorf("the restored proxy saw no connection or refusal from QEMU: %+v %v", stats, err)
	}
	if !strings.Contains(ag.Log(), "SCSI command policy enforcement restored") || !strings.Contains(ag.Log(), "by=guard") {
		t.Error("the agent log does not say it restored the LUN's guard (the agent's default enforcer)")
	}
	assertKernelEnforced(t, ag.Log())
	direct := dialLUN(ctx, t, tg.PortalAddr(), tg.IQN, "iqn.2026-11.dev.govirt:auditor", false)
	if keys := readKeys(ctx, t, direct); len(keys) != 0 {
		t.Errorf("tgtd holds keys %x registered from a filtered guest", keys)
	}
}

// assertKernelEnforced checks in an agent's log that QEMU's logins went
// through the guard and that the kernel half enforced the policy after
// them (the agent's default; without it every command would wait in the
// agent's queue).
func assertKernelEnforced(t *testing.T, log string) {
	t.Helper()
	if strings.Contains(log, "no kernel half") {
		t.Errorf("the agent could not load the guard's kernel half:\n%s", log)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "iSCSI login complete") && strings.Contains(line, "kernel=true") {
			return
		}
	}
	t.Error("no login through the guard was armed in the kernel (no \"iSCSI login complete ... kernel=true\" in the agent's log)")
}
