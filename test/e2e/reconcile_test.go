package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// TestEngineNoticesAnOutOfBandDetach: a disk detached by hand with virsh is
// noticed by the monitor; the API shows it inactive and says why.
func TestEngineNoticesAnOutOfBandDetach(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 5*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	vm := engineVM(ctx, t, e, true)
	keep := addDisk(ctx, t, e, vm.ID, "keep", "virtio_scsi", true)
	lost := addDisk(ctx, t, e, vm.ID, "lost", "virtio_scsi", true)
	startVM(ctx, t, e, vm.ID)
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll([]string{keep.ID, lost.ID})); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "detach-device-alias", *vm.Name, "ua-"+lost.ID, "--live").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh detach-device-alias: %v: %s", err, out)
	}
	for {
		var a ovirt.DiskAttachment
		e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vm.ID+"/diskattachments/"+lost.ID, nil, &a)
		if a.Active != nil && !bool(*a.Active) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the engine never noticed the disk detached behind its back")
		case <-time.After(500 * time.Millisecond):
		}
	}
	var kept ovirt.DiskAttachment
	e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vm.ID+"/diskattachments/"+keep.ID, nil, &kept)
	if kept.Active == nil || !bool(*kept.Active) {
		t.Errorf("the other disk was deactivated too")
	}
	var evs ovirt.Events
	e.MustDo(ctx, t, http.StatusOK, "GET", "/events", nil, &evs)
	said := false
	for _, ev := range evs.Events {
		if ev.Description != nil && strings.Contains(*ev.Description, "outside govirt") {
			said = true
		}
	}
	if !said {
		t.Error("no event says the disk was unplugged outside govirt")
	}
	// It can be plugged again through the API.
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+lost.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll([]string{keep.ID, lost.ID})); err != nil {
		t.Fatal(err)
	}
}
