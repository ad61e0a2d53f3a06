package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

const (
	testHost  = "host-a"
	testVM    = "6f9c3a52-0d7e-4b8e-9a51-2f0b7c1d9e11"
	testDisk  = "0b7f3a10-1111-4c2d-8e9f-000000000001"
	testAlias = "ua-" + testDisk
)

func testSpec() vmspec.VM {
	return vmspec.VM{
		ID: testVM, Name: "vm1", MemoryMiB: 64, VCPUs: 1, VirtType: vmspec.VirtQEMU,
		Controllers: []vmspec.Controller{{Index: 0}},
		Disks: []vmspec.Disk{{ID: testDisk, Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: "sda",
			Address: &scsi.DriveAddress{Target: 1}, Serial: testDisk,
			File: &vmspec.FileSource{DomainDir: "/sd", VolumeID: testDisk, Format: vmspec.FormatQCOW2}}},
	}
}

func newTestAgent(t *testing.T, hv *fakeHV) *Agent {
	t.Helper()
	a, err := New(Config{HostID: testHost, VirtType: vmspec.VirtQEMU, StateDir: t.TempDir()}, hv, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHotUnplugReturnsOnlyAfterDeviceRemovedEvent(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	removedAt := make(chan time.Time, 1)
	hv.detach = func(h *fakeHV, uuid, alias string) {
		time.Sleep(50 * time.Millisecond) // the guest takes its time
		removedAt <- time.Now()
		h.remove(uuid, alias)
	}
	a := newTestAgent(t, hv)
	if err := a.HotUnplugDisk(context.Background(), testVM, testDisk, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-removedAt:
	default:
		t.Fatal("HotUnplugDisk returned before the device was removed")
	}
}

func TestHotUnplugRemovalFailed(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	hv.detach = func(h *fakeHV, uuid, alias string) {
		h.emit(Event{VMID: "another-vm", Kind: EventDeviceRemoved, Alias: alias}) // not ours: ignored
		h.emit(Event{VMID: uuid, Kind: EventDeviceRemovalFailed, Alias: alias})
	}
	err := newTestAgent(t, hv).HotUnplugDisk(context.Background(), testVM, testDisk, 5*time.Second)
	if !errors.Is(err, ErrUnplugFailed) {
		t.Fatalf("got %v, want ErrUnplugFailed", err)
	}
}

func TestHotUnplugTimeout(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	err := newTestAgent(t, hv).HotUnplugDisk(context.Background(), testVM, testDisk, 200*time.Millisecond)
	if !errors.Is(err, ErrUnplugTimeout) {
		t.Fatalf("got %v, want ErrUnplugTimeout", err)
	}
}

func TestHotUnplugUnknownDisk(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	err := newTestAgent(t, hv).HotUnplugDisk(context.Background(), testVM, "0b7f3a10-1111-4c2d-8e9f-00000000ffff", time.Second)
	if !errors.Is(err, ErrDeviceNotFound) {
		t.Fatalf("got %v, want ErrDeviceNotFound", err)
	}
	if len(hv.calls) != 0 {
		t.Errorf("libvirt was asked to detach anyway: %v", hv.calls)
	}
}

func TestForeignDomainsAreInvisible(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), "host-b")
	a := newTestAgent(t, hv)
	ctx := context.Background()
	if vms, _ := a.ListVMs(ctx); len(vms) != 0 {
		t.Errorf("ListVMs shows another host's vm: %+v", vms)
	}
	for name, err := range map[string]error{
		"live":    func() error { _, err := a.LiveVM(ctx, testVM); return err }(),
		"destroy": a.DestroyVM(ctx, testVM),
		"unplug":  a.HotUnplugDisk(ctx, testVM, testDisk, time.Second),
		"plug":    a.HotPlugDisk(ctx, testVM, testSpec().Disks[0]),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s on another host's vm: %v, want ErrNotFound", name, err)
		}
	}
	for _, c := range hv.calls {
		if strings.HasPrefix(c, "destroy") || strings.HasPrefix(c, "detach") || strings.HasPrefix(c, "attach") {
			t.Errorf("libvirt was asked to %s another host's vm", c)
		}
	}
}

func TestShutdownFallsBackToACPIThenPowerOff(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	hv.refuses[ShutdownGuestAgent] = true
	hv.refuses[ShutdownACPI] = true
	a := newTestAgent(t, hv)
	if err := a.ShutdownVM(context.Background(), testVM, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := []string{"shutdown " + testVM + " 1", "destroy " + testVM}
	if strings.Join(hv.calls, ";") != strings.Join(want, ";") {
		t.Errorf("calls %v, want %v", hv.calls, want)
	}
}

func TestShutdownGraceful(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	a := newTestAgent(t, hv)
	if err := a.ShutdownVM(context.Background(), testVM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range hv.calls {
		if strings.HasPrefix(c, "destroy") {
			t.Errorf("a guest that shut down was powered off too: %v", hv.calls)
		}
	}
}

func TestStartRefusesRunningVM(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	err := newTestAgent(t, hv).StartVM(context.Background(), testSpec())
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("got %v, want ErrAlreadyRunning", err)
	}
}

func TestStartUsesConfiguredVirtTypeAndTagsDomain(t *testing.T) {
	hv := newFakeHV()
	a := newTestAgent(t, hv)
	vm := testSpec()
	vm.VirtType = ""
	if err := a.StartVM(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	vms, err := a.ListVMs(context.Background())
	if err != nil || len(vms) != 1 || vms[0].ID != testVM {
		t.Fatalf("ListVMs after start: %+v, %v", vms, err)
	}
}

func TestHotUnplugWaitsForTheGuestToReleaseTheDisk(t *testing.T) {
	hv := newFakeHV()
	hv.add(testSpec(), testHost)
	hv.detach = func(h *fakeHV, uuid, alias string) { h.remove(uuid, alias) }
	var asked int
	hv.guest = func(cmd string) (string, error) {
		asked++
		if asked < 3 { // the guest kernel still has it for a moment
			return `{"return":[{"name":"/dev/sda","partition":false,"address":{"serial":"0QEMU_QEMU_HARDDISK_` + testDisk[:20] + `","bus-type":"scsi"}}]}`, nil
		}
		return `{"return":[]}`, nil
	}
	if err := newTestAgent(t, hv).HotUnplugDisk(context.Background(), testVM, testDisk, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if asked < 3 {
		t.Fatalf("unplug returned after asking the guest %d times, while it still had the disk", asked)
	}
}

// disk is the n-th test SCSI image disk, on controller ctl.
func disk(n int, ctl uint16) vmspec.Disk {
	id := fmt.Sprintf("0b7f3a10-1111-4c2d-8e9f-%012d", n)
	return vmspec.Disk{ID: id, Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: fmt.Sprintf("sd%c", 'a'+n),
		Address: &scsi.DriveAddress{Controller: ctl, Target: 1, Unit: uint16(n)}, Serial: id,
		File: &vmspec.FileSource{DomainDir: "/sd", VolumeID: id, Format: vmspec.FormatQCOW2}}
}

func TestSCSIHotPlugChecksItsControllerWithoutReadingTheDomain(t *testing.T) {
	ctx := context.Background()
	reads := func(hv *fakeHV) int {
		hv.mu.Lock()
		defer hv.mu.Unlock()
		return hv.xmlReads
	}

	// A VM this agent started: its controllers are known.
	hv := newFakeHV()
	a := newTestAgent(t, hv)
	if err := a.StartVM(ctx, testSpec()); err != nil {
		t.Fatal(err)
	}
	before := reads(hv)
	if err := a.HotPlugDisk(ctx, testVM, disk(2, 0)); err != nil {
		t.Fatal(err)
	}
	if got := reads(hv) - before; got != 0 {
		t.Errorf("a SCSI hot-plug on a known controller read the domain XML %d times", got)
	}
	// A controller the agent does not know of is looked for in the domain.
	if err := a.HotPlugDisk(ctx, testVM, disk(3, 1)); !errors.Is(err, vmspec.ErrInvalid) {
		t.Errorf("hot-plug on a missing controller: %v, want ErrInvalid", err)
	}
	if got := reads(hv) - before; got != 1 {
		t.Errorf("the missing controller was looked for in %d readings, want 1", got)
	}

	// A VM an earlier agent process started: one reading, then none.
	hv2 := newFakeHV()
	hv2.add(testSpec(), testHost)
	a2 := newTestAgent(t, hv2)
	for n := 2; n < 5; n++ {
		if err := a2.HotPlugDisk(ctx, testVM, disk(n, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := reads(hv2); got != 1 {
		t.Errorf("3 hot-plugs into a VM started before the agent read its XML %d times, want 1", got)
	}
	// Another agent's domain stays out of reach.
	hv2.add(vmspec.VM{ID: "7a000000-0000-4000-8000-000000000001", Name: "theirs"}, "host-b")
	if err := a2.HotPlugDisk(ctx, "7a000000-0000-4000-8000-000000000001", disk(6, 0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("hot-plug into another host's domain: %v, want ErrNotFound", err)
	}
}

// TestLiveVMReportsPlugsInProgress: while a plug is being carried out,
// LiveVM lists its disk as busy (the engine must not settle a dead
// engine's plug as absent while libvirtd is still attaching it), and not
// after; a plug whose caller already gave up is not begun.
func TestLiveVMReportsPlugsInProgress(t *testing.T) {
	ctx := context.Background()
	hv := newFakeHV()
	a := newTestAgent(t, hv)
	if err := a.StartVM(ctx, testSpec()); err != nil {
		t.Fatal(err)
	}
	d := disk(2, 0)
	var during []string
	hv.during = func() {
		live, err := a.LiveVM(ctx, testVM)
		if err != nil {
			t.Error(err)
		}
		during = live.Busy
	}
	if err := a.HotPlugDisk(ctx, testVM, d); err != nil {
		t.Fatal(err)
	}
	hv.during = nil
	if len(during) != 1 || during[0] != d.ID {
		t.Errorf("busy during the plug: %v, want [%s]", during, d.ID)
	}
	if live, err := a.LiveVM(ctx, testVM); err != nil || len(live.Busy) != 0 {
		t.Errorf("busy after the plug: %v, %v", live.Busy, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.HotPlugDisk(gone, testVM, disk(3, 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("a plug whose caller had gone: %v, want context.Canceled", err)
	}
}
