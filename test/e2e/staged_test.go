package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// TestEngineStagedStart proves the start of a VM too large for one QEMU
// command line, with the threshold forced low: the local agent creates the
// domain paused with the boot disk and four more, attaches the other 19,
// then lets it run. The guest must see every disk at the address the
// engine allocated, the engine must keep them all plugged (the monitor did
// not take the disks still being attached for unplugged ones), and a
// hot-plug afterwards must work as on any VM.
func TestEngineStagedStart(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	const maxCold, n = 4, 24
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{MaxColdDisks: maxCold})
	vm := engineVM(ctx, t, e, true)
	var ids []string
	for i := range n {
		ids = append(ids, addDisk(ctx, t, e, vm.ID, fmt.Sprintf("st%02d", i), "virtio_scsi", true).ID)
	}
	startVM(ctx, t, e, vm.ID)
	if !strings.Contains(e.Log(), "vm started in stages") {
		t.Fatalf("the agent did not stage the start of %d disks with --max-cold-disks %d:\n%s", n, maxCold, e.Log())
	}
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtEngineAddresses(ctx, t, e, vm.ID, ids, inv)
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, ids, inv)
	waitLogicalNames(ctx, t, e, vm.ID, inv)

	hot := addDisk(ctx, t, e, vm.ID, "st-hot", "virtio_scsi", true).ID
	ids = append(ids, hot)
	inv, err = testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtEngineAddresses(ctx, t, e, vm.ID, ids, inv)
	for _, a := range attachments(ctx, t, e, vm.ID) {
		if a.Active == nil || !bool(*a.Active) {
			t.Errorf("attachment %s is not active any more", a.ID)
		}
	}
}

// checkGuestSeesAtEngineAddresses asserts that the guest sees each disk at
// the drive address the API reports for its attachment.
func checkGuestSeesAtEngineAddresses(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string, ids []string, inv testguest.Inventory) {
	t.Helper()
	byID := map[string]scsi.DriveAddress{}
	for _, a := range attachments(ctx, t, e, vmID) {
		if a.Address == nil {
			continue
		}
		addr, err := scsi.ParseDriveAddress(*a.Address)
		if err != nil {
			t.Fatalf("attachment %s: address %q: %v", a.ID, *a.Address, err)
		}
		byID[a.ID] = addr
	}
	for _, id := range ids {
		a, ok := byID[id]
		if !ok {
			t.Errorf("disk %s has no address in the API", id)
			continue
		}
		g, ok := findBySerial(inv, id)
		if !ok {
			t.Errorf("guest does not see disk %s", id)
			continue
		}
		if g.Channel != int(a.Bus) || g.Target != int(a.Target) || g.LUN != int(scsi.GuestLUN(a.Unit)) {
			t.Errorf("disk %s: guest sees %s, the engine allocated %v", id, g.HCTL, a)
		}
	}
}
