package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/internal/vmspec"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

func TestEngineBootsAVMWith40SCSIDisks(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	vm := engineVM(ctx, t, e, true)
	var ids []string
	for i := 0; i < 40; i++ {
		a := addDisk(ctx, t, e, vm.ID, fmt.Sprintf("d%02d", i), "virtio_scsi", true)
		ids = append(ids, a.ID)
	}
	startVM(ctx, t, e, vm.ID)
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, ids, inv)
	waitLogicalNames(ctx, t, e, vm.ID, inv)
}

func TestEngineConcurrentHotPlugs(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	vm := engineVM(ctx, t, e, true)
	startVM(ctx, t, e, vm.ID)
	if err := testguest.WaitReady(ctx, e.ConsolePath(vm.ID)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var out ovirt.DiskAttachment
			st, raw, err := e.Do(ctx, "POST", "/vms/"+vm.ID+"/diskattachments", newDiskAttachment(e, fmt.Sprintf("hot%02d", i), "virtio_scsi", 16, true), &out)
			if err != nil || st != http.StatusCreated {
				errs <- fmt.Errorf("hot-plug %d: %d %v %s", i, st, err, raw)
				return
			}
			ids[i] = out.ID
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, ids, inv)
	waitLogicalNames(ctx, t, e, vm.ID, inv)

	// Unplug them all at once, then detach (removing the disks).
	errs = make(chan error, n)
	for _, id := range ids {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			st, raw, err := e.Do(ctx, "PUT", "/vms/"+vm.ID+"/diskattachments/"+id, ovirt.DiskAttachment{Active: ovirt.B(false)}, nil)
			if err != nil || st != http.StatusOK {
				errs <- fmt.Errorf("unplug %s: %d %v %s", id, st, err, raw)
				return
			}
			st, raw, err = e.Do(ctx, "DELETE", "/vms/"+vm.ID+"/diskattachments/"+id, nil, nil)
			if err != nil || st != http.StatusOK {
				errs <- fmt.Errorf("detach %s: %d %v %s", id, st, err, raw)
			}
		}(id)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), func(inv testguest.Inventory) bool { return len(inv.Disks) == 0 }); err != nil {
		t.Fatal(err)
	}
	if left := attachments(ctx, t, e, vm.ID); len(left) != 0 {
		t.Errorf("%d attachments left after detaching all", len(left))
	}
}

func TestEngineRefusesTheVirtIOBlkDiskThatDoesNotFit(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	vm := engineVM(ctx, t, e, false)
	// The guest agent's virtio-serial takes one slot of vmspec.PCISlotsI440FX.
	fit := vmspec.PCISlotsI440FX - 1
	var ids []string
	for i := 0; i < fit; i++ {
		ids = append(ids, addDisk(ctx, t, e, vm.ID, fmt.Sprintf("vd%02d", i), "virtio", true).ID)
	}
	before, err := os.ReadDir(e.StorageDir())
	if err != nil {
		t.Fatal(err)
	}
	st, raw, err := e.Do(ctx, "POST", "/vms/"+vm.ID+"/diskattachments", newDiskAttachment(e, "one-too-many", "virtio", 16, true), nil)
	if err != nil || st != http.StatusConflict || !strings.Contains(raw, "Maximum PCI devices exceeded.") {
		t.Fatalf("the disk that does not fit: %d %v %s", st, err, raw)
	}
	after, _ := os.ReadDir(e.StorageDir())
	if len(after) != len(before) {
		t.Errorf("the refused disk reached the host: %d volumes before, %d after", len(before), len(after))
	}
	startVM(ctx, t, e, vm.ID)
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Disks) != fit {
		t.Errorf("guest sees %d disks, want %d", len(inv.Disks), fit)
	}
}

func TestEngineOnPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{DB: sqltest.Postgres(t)})
	vm := engineVM(ctx, t, e, true)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, addDisk(ctx, t, e, vm.ID, fmt.Sprintf("pg%d", i), "virtio_scsi", true).ID)
	}
	startVM(ctx, t, e, vm.ID)
	ids = append(ids, addDisk(ctx, t, e, vm.ID, "pg-hot", "virtio_scsi", true).ID)
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, ids, inv)
	waitLogicalNames(ctx, t, e, vm.ID, inv)
	var out ovirt.Action
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/shutdown", ovirt.Action{}, &out)
	if out.VM == nil || *out.VM.Status != "down" {
		t.Errorf("after shutdown: %+v", out.VM)
	}
}

func TestEngineSCSICDROMMediaChanges(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 4*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	for name, size := range map[string]int64{"first.iso": 2 << 20, "second.iso": 6 << 20} {
		if err := os.WriteFile(e.StorageDir()+"/"+name, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vm := engineVM(ctx, t, e, true)
	cdrom := "/vms/" + vm.ID + "/cdroms/00000000-0000-0000-0000-000000000000"
	e.MustDo(ctx, t, http.StatusOK, "PUT", cdrom, ovirt.Cdrom{File: &ovirt.File{ID: "first.iso"}}, nil)
	startVM(ctx, t, e, vm.ID)
	sr := func(size uint64) func(testguest.Inventory) bool {
		return func(inv testguest.Inventory) bool {
			for _, d := range inv.Disks {
				if strings.HasPrefix(d.Name, "sr") && d.Size == size {
					return true
				}
			}
			return false
		}
	}
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), sr(2<<20)); err != nil {
		t.Fatal(err)
	}
	// Change the media of the running guest.
	var out ovirt.Cdrom
	e.MustDo(ctx, t, http.StatusOK, "PUT", cdrom+"?current=true", ovirt.Cdrom{File: &ovirt.File{ID: "second.iso"}}, &out)
	if out.File == nil || out.File.ID != "second.iso" {
		t.Errorf("cdrom after change: %+v", out)
	}
	// The guest kernel notices new media when the drive is next opened (as
	// a mount would): read a block through the guest agent.
	ag := e.Agent(ctx, t)
	waitGuestAgentOn(ctx, t, ag.GuestDisks, vm.ID)
	res, err := ag.GuestExec(ctx, vm.ID, "/bin/busybox", []string{"dd", "if=/dev/sr0", "of=/dev/null", "bs=2048", "count=1"}, nil, time.Minute)
	if err != nil {
		t.Fatalf("read the new media in the guest: %v", err)
	}
	if res.ExitCode != 0 {
		t.Logf("dd in the guest: exit %d: %s", res.ExitCode, res.Stderr)
	}
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), sr(6<<20)); err != nil {
		t.Fatal(err)
	}
	// An ISO outside the storage domain is refused.
	st, raw, _ := e.Do(ctx, "PUT", cdrom+"?current=true", ovirt.Cdrom{File: &ovirt.File{ID: "../../../etc/passwd"}}, nil)
	if st != http.StatusBadRequest {
		t.Errorf("escaping ISO: %d %s", st, raw)
	}
}
