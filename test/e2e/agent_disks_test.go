package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/internal/vmspec"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// serialOf is the part of a disk id a guest is sure to see: virtio-blk and
// QEMU's SCSI device identification carry only 20 characters.
func serialOf(id string) string { return id[:20] }

// findBySerial returns the inventory disk whose serial starts like id.
func findBySerial(inv testguest.Inventory, id string) (testguest.Disk, bool) {
	for _, d := range inv.Disks {
		if len(d.Serial) >= 20 && strings.HasPrefix(id, d.Serial) || strings.HasPrefix(d.Serial, serialOf(id)) {
			return d, true
		}
	}
	return testguest.Disk{}, false
}

func hasAll(ids []string) func(testguest.Inventory) bool {
	return func(inv testguest.Inventory) bool {
		for _, id := range ids {
			if _, ok := findBySerial(inv, id); !ok {
				return false
			}
		}
		return true
	}
}

// checkAddress asserts that the guest sees disk d at the drive address the
// agent was given (SAM flat-space LUNs above 255).
func checkAddress(t *testing.T, inv testguest.Inventory, d vmspec.Disk) testguest.Disk {
	t.Helper()
	g, ok := findBySerial(inv, d.ID)
	if !ok {
		t.Fatalf("guest does not see disk %s; inventory: %+v", d.ID, inv.Disks)
	}
	want := scsi.GuestLUN(d.Address.Unit)
	if g.Channel != int(d.Address.Bus) || g.Target != int(d.Address.Target) || g.LUN != int(want) {
		t.Errorf("disk %s: guest sees %s (%s), want C:T:L %d:%d:%d", d.ID, g.HCTL, g.Name, d.Address.Bus, d.Address.Target, want)
	}
	if g.Vendor != "QEMU" {
		t.Errorf("disk %s: vendor %q, want QEMU", d.ID, g.Vendor)
	}
	return g
}

func TestGuestSeesSCSIDisksAtTheirAddresses(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	dir, ids := ag.NewVolumes(ctx, t, 3, 64)
	vm := e2eutil.BaseVM(t)
	addrs := [][2]uint16{{0, 0}, {3, 5}, {7, 300}}
	for i, id := range ids {
		vm.Disks = append(vm.Disks, e2eutil.SCSIDisk(dir, id, scsi.DeviceName(scsi.PrefixSCSI, i), addrs[i][0], addrs[i][1]))
	}
	ag.StartVM(ctx, t, vm)

	inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // disk id -> guest device name
	for _, d := range vm.Disks {
		g := checkAddress(t, inv, d)
		if g.Size != 64<<20 {
			t.Errorf("disk %s: size %d, want %d", d.ID, g.Size, 64<<20)
		}
		names[d.ID] = "/dev/" + g.Name
	}

	// The guest agent reports each disk's logical name and serial; it must
	// agree with what the guest kernel printed on the console.
	gdisks := waitGuestDisks(ctx, t, ag, vm.ID, ids)
	for _, id := range ids {
		g, ok := guestDiskBySerial(gdisks, id)
		if !ok {
			t.Fatalf("guest agent does not report disk %s: %+v", id, gdisks)
		}
		if g.Name != names[id] {
			t.Errorf("guest agent names disk %s %s, the guest kernel %s", id, g.Name, names[id])
		}
	}

	// The live domain has each disk at its address under its ua- alias.
	live, err := ag.Client.LiveVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range vm.Disks {
		dev, ok := liveByAlias(live, d.Alias())
		if !ok || dev.Address == nil || *dev.Address != *d.Address {
			t.Errorf("live domain: %s at %+v, want %v", d.Alias(), dev.Address, d.Address)
		}
	}
}

func liveByAlias(live agent.LiveVM, alias string) (agent.LiveDevice, bool) {
	for _, d := range live.Devices {
		if d.Alias == alias {
			return d, true
		}
	}
	return agent.LiveDevice{}, false
}

func guestDiskBySerial(disks []agent.GuestDisk, id string) (agent.GuestDisk, bool) {
	for _, g := range disks {
		if strings.Contains(g.Serial, serialOf(id)) {
			return g, true
		}
	}
	return agent.GuestDisk{}, false
}

// waitGuestDisks polls the guest agent until it reports every disk in ids:
// qemu-ga starts a little after the kernel has found the disks.
func waitGuestDisks(ctx context.Context, t *testing.T, ag *e2eutil.AgentProc, vmID string, ids []string) []agent.GuestDisk {
	t.Helper()
	var last []agent.GuestDisk
	var lastErr error
	for {
		last, lastErr = ag.Client.GuestDisks(ctx, vmID)
		if lastErr == nil {
			all := true
			for _, id := range ids {
				if _, ok := guestDiskBySerial(last, id); !ok {
					all = false
				}
			}
			if all {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("guest agent never reported all disks: last %+v, err %v", last, lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func TestHotPlugAndUnplugSCSIDisks(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	dir, ids := ag.NewVolumes(ctx, t, 6, 16)
	vm := e2eutil.BaseVM(t)
	vm.Disks = []vmspec.Disk{e2eutil.SCSIDisk(dir, ids[0], "sda", 0, 0)}
	ag.StartVM(ctx, t, vm)
	if _, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), hasAll(ids[:1])); err != nil {
		t.Fatal(err)
	}

	// Five disks hot-plugged at once, at addresses the "engine" chose.
	plugged := make([]vmspec.Disk, 5)
	var wg sync.WaitGroup
	errs := make(chan error, len(plugged))
	for i := range plugged {
		plugged[i] = e2eutil.SCSIDisk(dir, ids[i+1], scsi.DeviceName(scsi.PrefixSCSI, i+1), uint16(1+i), uint16(i*70))
		wg.Add(1)
		go func(d vmspec.Disk) {
			defer wg.Done()
			if err := ag.Client.HotPlugDisk(ctx, vm.ID, d); err != nil {
				errs <- fmt.Errorf("hot-plug %s: %w", d.ID, err)
			}
		}(plugged[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range plugged {
		checkAddress(t, inv, d)
	}
	waitGuestDisks(ctx, t, ag, vm.ID, ids)

	// Two unplugged at once: each call returns only when the guest has let
	// go, so right after it neither libvirt nor the guest agent has the disk.
	gone := plugged[1:3]
	errs = make(chan error, len(gone))
	for _, d := range gone {
		wg.Add(1)
		go func(d vmspec.Disk) {
			defer wg.Done()
			if err := ag.Client.HotUnplugDisk(ctx, vm.ID, d.ID, time.Minute); err != nil {
				errs <- fmt.Errorf("unplug %s: %w", d.ID, err)
				return
			}
			gd, err := ag.Client.GuestDisks(ctx, vm.ID)
			if err != nil {
				errs <- err
				return
			}
			if g, ok := guestDiskBySerial(gd, d.ID); ok {
				errs <- fmt.Errorf("unplug of %s returned while the guest still has %s", d.ID, g.Name)
			}
		}(d)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	live, err := ag.Client.LiveVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range gone {
		if _, ok := liveByAlias(live, d.Alias()); ok {
			t.Errorf("live domain still has %s after unplug", d.Alias())
		}
	}
	_, err = testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), func(inv testguest.Inventory) bool {
		_, a := findBySerial(inv, gone[0].ID)
		_, b := findBySerial(inv, gone[1].ID)
		return !a && !b && len(inv.Disks) == 4
	})
	if err != nil {
		t.Fatal(err)
	}

	// Unplugging a disk the VM does not have is a typed error.
	err = ag.Client.HotUnplugDisk(ctx, vm.ID, gone[0].ID, time.Minute)
	if !errors.Is(err, agent.ErrDeviceNotFound) {
		t.Errorf("second unplug: %v, want ErrDeviceNotFound", err)
	}
}

func TestHotPlugControllerIntoVMWithoutOne(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	ag := e2eutil.StartAgent(t, e2eutil.AgentOptions{})
	dir, ids := ag.NewVolumes(ctx, t, 1, 16)
	vm := e2eutil.BaseVM(t)
	vm.Controllers = nil
	ag.StartVM(ctx, t, vm)
	if err := testguest.WaitReady(ctx, ag.ConsolePath(vm.ID)); err != nil {
		t.Fatal(err)
	}
	d := e2eutil.SCSIDisk(dir, ids[0], "sda", 2, 9)
	if err := ag.Client.HotPlugDisk(ctx, vm.ID, d); !errors.Is(err, vmspec.ErrInvalid) {
		t.Fatalf("hot-plug without a controller: %v, want ErrInvalid", err)
	}
	if err := ag.Client.HotPlugController(ctx, vm.ID, vmspec.Controller{Index: 0}); err != nil {
		t.Fatal(err)
	}
	if err := ag.Client.HotPlugDisk(ctx, vm.ID, d); err != nil {
		t.Fatal(err)
	}
	inv, err := testguest.WaitInventory(ctx, ag.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkAddress(t, inv, d)
	live, err := ag.Client.LiveVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	var models []string
	for _, dev := range live.Devices {
		if dev.Kind == "controller" {
			models = append(models, dev.Model)
		}
	}
	if len(models) != 1 || models[0] != "virtio-scsi" {
		t.Errorf("scsi controllers after hot-plug: %v, want exactly one virtio-scsi", models)
	}
}
