package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// lunDisk is the body of a direct LUN disk on the test target.
func lunDisk(tg *e2eutil.ISCSITarget, lunNo uint32, name, sgio string, shareable bool) ovirt.Disk {
	return ovirt.Disk{Name: ovirt.Str(name), Sgio: ovirt.Str(sgio), Shareable: ovirt.B(shareable),
		LunStorage: &ovirt.HostStorage{Type: ovirt.Str("iscsi"), LogicalUnits: &ovirt.LogicalUnits{LogicalUnits: []ovirt.LogicalUnit{{
			ID: fmt.Sprintf("%s:%d", tg.IQN, lunNo), Address: ovirt.Str(tg.Portal), Port: ovirt.I(int64(tg.Port)), Target: ovirt.Str(tg.IQN),
			LunMapping: ovirt.I(int64(lunNo)), Serial: ovirt.Str(tg.Serials[lunNo]),
		}}}}}
}

// newUser creates an internal user through the API, grants it a role on
// System and logs it in.
func newUser(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, name, role string) string {
	t.Helper()
	const pw = "e2e-user-password"
	var u ovirt.User
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/users", ovirt.User{UserName: ovirt.Str(name + "@internal"),
		Domain: &ovirt.Domain{Name: ovirt.Str("internal-authz")}, Password: ovirt.Str(pw)}, &u)
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/permissions", ovirt.Permission{Role: &ovirt.Role{Name: ovirt.Str(role)}, User: &ovirt.User{ID: u.ID}}, nil)
	tok, err := e.LoginAs(name+"@internal", pw)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

func TestEngineDirectLUNPassThrough(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 8*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 2, 64)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})

	// Who may add a LUN with unfiltered SG_IO: only holders of
	// CONFIGURE_SCSI_GENERIC_IO at System level.
	creator := newUser(ctx, t, e, "creator", "DiskCreator")
	st, raw, _ := e.DoAs(ctx, creator, "POST", "/disks", lunDisk(tg, 2, "nope", "unfiltered", true), nil)
	if st != http.StatusForbidden || !strings.Contains(raw, "User is not authorized to perform this action.") {
		t.Fatalf("DiskCreator adding an unfiltered LUN: %d %s", st, raw)
	}
	var lun ovirt.Disk
	if st, raw, _ := e.DoAs(ctx, creator, "POST", "/disks", lunDisk(tg, 1, "shared-lun", "filtered", true), &lun); st != http.StatusCreated {
		t.Fatalf("DiskCreator adding a filtered LUN: %d %s", st, raw)
	}
	if lun.SgioEffective == nil || *lun.SgioEffective != "filtered" {
		t.Errorf("a filtered iSCSI LUN is held to the filtered policy; sgio_effective %+v", lun.SgioEffective)
	}
	// A custom policy is a System administrator's matter.
	if st, raw, _ := e.DoAs(ctx, creator, "PUT", "/disks/"+lun.ID, ovirt.Disk{SCSIPolicy: &ovirt.Ref{Name: ovirt.Str("reservations")}}, nil); st != http.StatusForbidden {
		t.Fatalf("DiskCreator giving its LUN the reservations policy: %d %s", st, raw)
	}
	dcAdmin := newUser(ctx, t, e, "dcadmin", "DataCenterAdmin")
	var other ovirt.Disk
	if st, raw, _ := e.DoAs(ctx, dcAdmin, "POST", "/disks", lunDisk(tg, 2, "unfiltered-lun", "unfiltered", true), &other); st != http.StatusCreated {
		t.Fatalf("DataCenterAdmin adding an unfiltered LUN: %d %s", st, raw)
	}
	// The same LUN cannot back a second disk.
	if st, raw, _ := e.DoAs(ctx, dcAdmin, "POST", "/disks", lunDisk(tg, 2, "again", "unfiltered", true), nil); st != http.StatusConflict {
		t.Errorf("a second disk on one LUN: %d %s", st, raw)
	}
	e.MustDo(ctx, t, http.StatusOK, "DELETE", "/disks/"+other.ID, nil, nil)

	// Two VMs share the LUN; each guest sees the target's own identity.
	vms := []ovirt.VM{engineVM(ctx, t, e, true), engineVM(ctx, t, e, true)}
	for _, vm := range vms {
		e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vm.ID+"/diskattachments",
			ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), Disk: &ovirt.Disk{ID: lun.ID}}, nil)
		startVM(ctx, t, e, vm.ID)
	}
	serial := tg.Serials[1]
	devs := make([]string, len(vms))
	for i, vm := range vms {
		inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), func(inv testguest.Inventory) bool {
			_, ok := inv.BySerial(serial)
			return ok
		})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := inv.BySerial(serial)
		if d.Vendor != "IET" || d.Model != "VIRTUAL-DISK" {
			t.Errorf("vm %d sees vendor %q model %q, want IET VIRTUAL-DISK", i, d.Vendor, d.Model)
		}
		devs[i] = "/dev/" + d.Name
		waitLUNLogicalName(ctx, t, e, vm.ID, lun.ID, devs[i])
	}
	ag := e.Agent(ctx, t)
	run := func(vmID string, args ...string) (int, string) {
		t.Helper()
		waitGuestAgentOn(ctx, t, ag.GuestDisks, vmID)
		res, err := ag.GuestExec(ctx, vmID, "/usr/bin/sg_persist", args, nil, time.Minute)
		if err != nil {
			t.Fatalf("sg_persist %v: %v", args, err)
		}
		return res.ExitCode, string(res.Stdout) + string(res.Stderr)
	}
	persist := func(vmID string, args ...string) string {
		t.Helper()
		code, out := run(vmID, args...)
		if code != 0 {
			t.Fatalf("sg_persist %v: exit %d: %s", args, code, out)
		}
		return out
	}
	// Filtered holds in the data path: the guest cannot register a key.
	register := []string{"--out", "--register", "--param-sark=0x5eed", devs[0]}
	if code, out := run(vms[0].ID, register...); code == 0 || !strings.Contains(strings.ToLower(out), "illegal request") {
		t.Fatalf("a filtered LUN let the guest register a reservation key: exit %d: %s", code, out)
	}
	// (PERSISTENT RESERVE IN is not in the filtered set either.)
	if code, out := run(vms[1].ID, "--in", "--read-keys", devs[1]); code == 0 {
		t.Fatalf("a filtered LUN let the guest read reservation keys:\n%s", out)
	}
	// The reservations policy, given live, lets both guests use PR: the
	// refused key never reached the target, and a key registered by one
	// guest now is seen by the other.
	var withPR ovirt.Disk
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/disks/"+lun.ID, ovirt.Disk{SCSIPolicy: &ovirt.Ref{Name: ovirt.Str("reservations")}}, &withPR)
	if withPR.SgioEffective == nil || *withPR.SgioEffective != "reservations" {
		t.Errorf("sgio_effective after the change: %+v", withPR.SgioEffective)
	}
	if out := persist(vms[1].ID, "--in", "--read-keys", devs[1]); strings.Contains(out, "0x5eed") {
		t.Fatalf("the refused key reached the target:\n%s", out)
	}
	persist(vms[0].ID, register...)
	if out := persist(vms[1].ID, "--in", "--read-keys", devs[1]); !strings.Contains(out, "0x5eed") {
		t.Errorf("the second VM does not see the first one's key:\n%s", out)
	}
	// The LUN hot-unplugs from the second VM and plugs back.
	att := "/vms/" + vms[1].ID + "/diskattachments/" + lun.ID
	hasLUN := func(want bool) func(testguest.Inventory) bool {
		return func(inv testguest.Inventory) bool { _, ok := inv.BySerial(serial); return ok == want }
	}
	e.MustDo(ctx, t, http.StatusOK, "PUT", att, ovirt.DiskAttachment{Active: ovirt.B(false)}, nil)
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vms[1].ID), hasLUN(false)); err != nil {
		t.Fatal(err)
	}
	e.MustDo(ctx, t, http.StatusOK, "PUT", att, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vms[1].ID), hasLUN(true))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := inv.BySerial(serial)
	// The plugged-back LUN keeps its policy: the guest reads the keys.
	if out := persist(vms[1].ID, "--in", "--read-keys", "/dev/"+d.Name); !strings.Contains(out, "0x5eed") {
		t.Errorf("after the re-plug the second VM does not see the key:\n%s", out)
	}
}

// waitGuestAgentOn waits until the guest agent of a VM answers.
func waitGuestAgentOn[T any](ctx context.Context, t *testing.T, call func(context.Context, string) (T, error), vmID string) {
	t.Helper()
	for {
		_, err := call(ctx, vmID)
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

// waitLUNLogicalName waits until the LUN's attachment reports the guest's
// device, which the engine matched by the LUN's own serial.
func waitLUNLogicalName(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID, diskID, want string) {
	t.Helper()
	got := ""
	for {
		var a ovirt.DiskAttachment
		e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vmID+"/diskattachments/"+diskID, nil, &a)
		if a.LogicalName != nil {
			got = *a.LogicalName
		}
		if got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("LUN logical name %q, want %q", got, want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
