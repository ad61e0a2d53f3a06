package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func crowdedEvents(t *testing.T, v *env, vmID string) []model.AuditEvent {
	t.Helper()
	var out []model.AuditEvent
	for _, e := range v.events(t, 100000) {
		if e.Code == CodeControllerCrowded && e.VMID == vmID {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y model.AuditEvent) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// One warning per crossing of the limit on a controller, from an attach
// and from a replug, naming the controller and the remedy. The limit is
// lowered to 8 so the test stays quick; the default is checked apart.
func TestCrowdedControllerWarnsOncePerCrossing(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	const limit = 8
	v.e.crowdedAt = limit
	vm := v.vm(t, "big", "debian")
	var ids []string
	for i := range limit + 2 {
		if n := len(crowdedEvents(t, v, vm.ID)); i <= limit && n != 0 {
			t.Fatalf("warned at %d disks on one controller", i)
		}
		d := v.imageDisk(t, fmt.Sprint("d", i))
		v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI)
		ids = append(ids, d.ID)
	}
	evs := crowdedEvents(t, v, vm.ID)
	if len(evs) != 1 {
		t.Fatalf("%d crowding warnings after %d disks, want 1: %+v", len(evs), len(ids), evs)
	}
	if ev := evs[0]; ev.DiskID != ids[limit] || ev.Severity != "warning" ||
		!strings.Contains(ev.Message, "controller 0 of VM big now carries 9 disks") ||
		!strings.Contains(ev.Message, fmt.Sprintf("Give the VM %d I/O threads", MaxIOThreads)) {
		t.Errorf("warning %+v: want it on the 9th disk (%s), naming controller 0 and the remedy", ev, ids[limit])
	}

	// More controllers: new disks go to them, existing ones stay, no warning.
	_, err := v.e.UpdateVM(v.ctx, vm.ID, VMParams{IOThreads: iptr(MaxIOThreads)})
	notErr(t, err)
	d := v.imageDisk(t, "spread")
	v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI)
	if c := v.device(t, vm.ID, d.ID).Address.Controller; c == 0 {
		t.Errorf("a new disk went to the crowded controller 0")
	}
	if n := len(crowdedEvents(t, v, vm.ID)); n != 1 {
		t.Errorf("%d warnings after a disk on a new controller, want still 1", n)
	}

	// Controller 0 drops back to the limit, then crosses it again on a replug.
	for _, id := range ids[:2] {
		_, err = v.e.UpdateAttachment(v.ctx, vm.ID, id, AttachParams{Active: bptr(false)})
		notErr(t, err)
	}
	if n := len(crowdedEvents(t, v, vm.ID)); n != 1 {
		t.Errorf("%d warnings after unplugs, want still 1", n)
	}
	_, err = v.e.UpdateAttachment(v.ctx, vm.ID, ids[0], AttachParams{Active: bptr(true)})
	notErr(t, err)
	if c := v.device(t, vm.ID, ids[0]).Address.Controller; c != 0 {
		t.Fatalf("the replugged disk went to controller %d, not back to its address on 0", c)
	}
	evs = crowdedEvents(t, v, vm.ID)
	if len(evs) != 2 || evs[1].DiskID != ids[0] || !strings.Contains(evs[1].Message, "already has the most I/O threads") {
		t.Errorf("after controller 0 crossed again on a replug: %+v; want a second warning for %s saying the VM has the most I/O threads", evs, ids[0])
	}
}

// The default: a full VM spread over the most I/O threads stays under it.
func TestCrowdedControllerDefault(t *testing.T) {
	if per := (scsi.MaxDisksPerVM + MaxIOThreads - 1) / MaxIOThreads; per > CrowdedControllerDisks {
		t.Errorf("a full VM on %d controllers puts %d disks on one, over the warning's %d", MaxIOThreads, per, CrowdedControllerDisks)
	}
	if e := New(Deps{}); e.crowdedAt != CrowdedControllerDisks {
		t.Errorf("a new engine warns past %d disks, want %d", e.crowdedAt, CrowdedControllerDisks)
	}
}
