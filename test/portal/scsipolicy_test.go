package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/test/e2e/e2eutil"
	"github.com/govirt/govirt/test/portal/portalutil"
)

// TestPortal's steps for SCSI command policies: the Edit Disk dialog
// changing a LUN's policy, the SCSI Policies view and its dialogs, and the
// view as a user without "Manipulate SCSI I/O Privileges".

// editLUNPolicy gives the disk alias the policy in the Edit Disk dialog,
// opened from the table (a VM's Disks tab or the Disks view), and checks
// that the view then names the policy the host enforces. The dialog must
// show from first the policy enforced before.
func editLUNPolicy(b *portalutil.Browser, t *testing.T, table, alias, from, to, shot string) {
	t.Helper()
	b.Click(fmt.Sprintf(`%s tr[data-name=%q] td`, table, alias))
	b.WaitVisible(fmt.Sprintf(`%s tr.gv-selected[data-name=%q]`, table, alias))
	b.Click("#disk-edit")
	b.WaitVisible("#edit-disk-dialog")
	if got := b.Text("#edit-disk-enforced"); got != from {
		t.Fatalf("the Edit Disk dialog of %s says %q is enforced, want %q", alias, got, from)
	}
	if !b.Bool("alias kept", fmt.Sprintf(`document.querySelector('#edit-disk-alias').value === %q`, alias)) {
		t.Fatalf("the Edit Disk dialog of %s does not show its alias", alias)
	}
	b.SetInput("#edit-disk-policy", to)
	b.Screenshot(shot)
	b.Click("#dialog-ok")
	b.WaitGone("#edit-disk-dialog")
	b.WaitVisible("#view-success")
	if got := b.Text("#view-success"); !strings.Contains(got, fmt.Sprintf("%s: the host enforces the SCSI command policy %q", alias, to)) {
		t.Fatalf("after Edit Disk the view says %q, want the enforced policy %q", got, to)
	}
}

// diskByAlias reads a disk through the API.
func diskByAlias(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, alias string) ovirt.Disk {
	t.Helper()
	var ds ovirt.Disks
	e.MustDo(ctx, t, http.StatusOK, "GET", "/disks?search=name%3D"+alias, nil, &ds)
	if len(ds.Disks) != 1 {
		t.Fatalf("disk %s: %d found", alias, len(ds.Disks))
	}
	var d ovirt.Disk
	e.MustDo(ctx, t, http.StatusOK, "GET", "/disks/"+ds.Disks[0].ID, nil, &d)
	return d
}

// wantEnforced checks through the API which policy the host enforces for a disk.
func wantEnforced(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, alias, want string) {
	t.Helper()
	d := diskByAlias(ctx, t, e, alias)
	if d.SgioEffective == nil || *d.SgioEffective != want {
		t.Fatalf("GET /disks/%s: sgio_effective %v, want %q", d.ID, d.SgioEffective, want)
	}
}

// faultOf runs a call from the page with its token and returns the API's
// fault, failing unless the status is want.
func faultOf(t *testing.T, b *portalutil.Browser, want int, method, path, body string) ovirt.Fault {
	t.Helper()
	st, raw := b.Fetch(method, path, body)
	var f ovirt.Fault
	if err := json.Unmarshal([]byte(raw), &f); err != nil || st != want || f.Detail == "" {
		t.Fatalf("%s %s: %d %s; want %d with a fault", method, path, st, raw, want)
	}
	return f
}

// policyByName reads a SCSI command policy through the API.
func policyByName(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, name string) (ovirt.SCSIPolicy, bool) {
	t.Helper()
	var ps ovirt.SCSIPolicies
	e.MustDo(ctx, t, http.StatusOK, "GET", "/scsipolicies", nil, &ps)
	for _, p := range ps.Policies {
		if p.Name != nil && *p.Name == name {
			return p, true
		}
	}
	return ovirt.SCSIPolicy{}, false
}

// scsiPoliciesAsAdmin creates a custom policy in the SCSI Policies view
// (an unknown command first: the API's 400 shows in the dialog), tries to
// remove "reservations", which portal-lun uses (the 409 shows in the
// dialog), and removes the unused preset "trim".
func scsiPoliciesAsAdmin(ctx context.Context, t *testing.T, b *portalutil.Browser, e *e2eutil.EngineProc) {
	t.Helper()
	b.Click(`[data-nav="scsipolicies"]`)
	b.WaitVisible(`#policies-table tr[data-name="reservations"]`)
	if got := b.Text(`#policies-table tr[data-name="unfiltered"]`); !strings.Contains(got, "Yes") {
		t.Fatalf("the built-in unfiltered policy in the view: %q", got)
	}
	b.Click(`#policies-table tr[data-name="filtered"] td`)
	b.WaitVisible(`#policies-table tr.gv-selected[data-name="filtered"]`)
	if !b.Bool("Remove disabled for a built-in", `document.querySelector('#policy-remove').disabled`) {
		t.Fatal("Remove is enabled for the built-in policy filtered")
	}

	b.Click("#policy-new")
	b.WaitVisible("#policy-dialog")
	b.SetInput("#policy-name", "portal-nopr")
	b.SetInput("#policy-description", "every command but reservations")
	b.SetInput("#policy-base", "unfiltered")
	if !b.Bool("allow disabled on unfiltered", `document.querySelector('#policy-allow').disabled`) ||
		!strings.Contains(b.Text("#policy-allow-reason"), "only deny rules apply") {
		t.Fatalf("Allow on an unfiltered base: enabled, or the reason is %q", b.Text("#policy-allow-reason"))
	}
	b.SetInput("#policy-deny", "persistent-reserve-out\nfrobnicate")
	b.Click("#dialog-ok")
	b.WaitVisible("#dialog-error")
	f := faultOf(t, b, http.StatusBadRequest, "POST", "/scsipolicies",
		`{"name":"portal-nopr","base":"unfiltered","deny":{"rule":["persistent-reserve-out","frobnicate"]}}`)
	if shown := b.Text("#dialog-error"); !strings.Contains(shown, f.Detail) {
		t.Fatalf("the New Policy dialog shows %q, not the API's fault detail %q", shown, f.Detail)
	}
	b.Screenshot("dialog-new-scsi-policy-fault")
	b.SetInput("#policy-deny", "persistent-reserve-out\npersistent-reserve-in")
	b.Screenshot("dialog-new-scsi-policy")
	b.Click("#dialog-ok")
	b.WaitGone("#policy-dialog")
	row := `#policies-table tr[data-name="portal-nopr"]`
	b.WaitVisible(row)
	if got := b.Text(row); !strings.Contains(got, "unfiltered") || !strings.Contains(got, "persistent-reserve-out, persistent-reserve-in") {
		t.Fatalf("portal-nopr in the SCSI Policies view: %q", got)
	}
	p, ok := policyByName(ctx, t, e, "portal-nopr")
	if !ok || p.Base == nil || *p.Base != "unfiltered" || p.Allow != nil || p.Deny == nil || len(p.Deny.Rules) != 2 ||
		p.Description == nil || *p.Description != "every command but reservations" {
		t.Fatalf("the policy the dialog created: %+v (found %v)", p, ok)
	}
	b.Screenshot("view-scsipolicies")

	// Remove "reservations": portal-lun uses it, so the API refuses and the
	// dialog shows why.
	res, ok := policyByName(ctx, t, e, "reservations")
	if !ok {
		t.Fatal("the preset reservations is missing")
	}
	b.Click(`#policies-table tr[data-name="reservations"] td`)
	b.WaitVisible(`#policies-table tr.gv-selected[data-name="reservations"]`)
	b.Click("#policy-remove")
	b.WaitVisible("#policy-remove-dialog")
	b.Click("#dialog-ok")
	b.WaitVisible("#dialog-error")
	f = faultOf(t, b, http.StatusConflict, "DELETE", "/scsipolicies/"+res.ID, "")
	if shown := b.Text("#dialog-error"); !strings.Contains(shown, f.Detail) {
		t.Fatalf("the Remove dialog shows %q, not the API's fault detail %q", shown, f.Detail)
	}
	b.Screenshot("dialog-remove-scsi-policy-in-use")
	b.Click("#dialog-cancel")
	if _, ok := policyByName(ctx, t, e, "reservations"); !ok {
		t.Fatal("reservations was removed although portal-lun uses it")
	}

	// The preset "trim" no disk uses goes.
	b.Click(`#policies-table tr[data-name="trim"] td`)
	b.WaitVisible(`#policies-table tr.gv-selected[data-name="trim"]`)
	b.Click("#policy-remove")
	b.WaitVisible("#policy-remove-dialog")
	b.Click("#dialog-ok")
	b.WaitGone("#policy-remove-dialog")
	b.WaitGone(`#policies-table tr[data-name="trim"]`)
	if _, ok := policyByName(ctx, t, e, "trim"); ok {
		t.Fatal("the Remove dialog left the policy trim in the API")
	}
}

// scsiPoliciesUnprivileged checks the view as a user without "Manipulate
// SCSI I/O Privileges": the policies are listed, New Policy and Remove are
// disabled with the reason, and the API refuses anyway.
func scsiPoliciesUnprivileged(t *testing.T, b *portalutil.Browser) {
	t.Helper()
	b.Click(`[data-nav="scsipolicies"]`)
	b.WaitVisible(`#policies-table tr[data-name="portal-nopr"]`)
	b.Click(`#policies-table tr[data-name="portal-nopr"] td`)
	b.WaitVisible(`#policies-table tr.gv-selected[data-name="portal-nopr"]`)
	b.WaitVisible("#policy-reason")
	reason := b.Text("#policy-reason")
	if !b.Bool("policy buttons disabled", `document.querySelector('#policy-new').disabled && document.querySelector('#policy-remove').disabled`) ||
		!strings.Contains(reason, `"Manipulate SCSI I/O Privileges" permission on the system`) {
		t.Fatalf("SCSI Policies for a user without the privilege: buttons enabled, or the reason is %q", reason)
	}
	if !b.Bool("reason as the title", `document.querySelector('#policy-new').title === document.querySelector('#policy-reason').innerText`) {
		t.Fatal("New Policy does not carry the reason as its title (tooltip)")
	}
	b.Screenshot("view-scsipolicies-unprivileged")
	faultOf(t, b, http.StatusForbidden, "POST", "/scsipolicies", `{"name":"bob-policy","base":"unfiltered"}`)
}

// editDiskUnprivileged opens Edit Disk on portal-lun from the VM's Disks
// tab as a user without "Manipulate SCSI I/O Privileges": the built-in
// policies are offered, the custom ones disabled with the reason, and the
// API refuses a custom one anyway.
func editDiskUnprivileged(ctx context.Context, t *testing.T, b *portalutil.Browser, e *e2eutil.EngineProc) {
	t.Helper()
	selectDisk(b, "portal-lun")
	b.Click("#disk-edit")
	b.WaitVisible("#edit-disk-dialog")
	if !b.Bool("custom policies disabled", `document.querySelector('#edit-disk-policy option[value="reservations"]') &&
		[...document.querySelectorAll('#edit-disk-policy option')].every((o) => ['filtered', 'unfiltered'].includes(o.value) !== o.disabled)`) ||
		!strings.Contains(b.Text("#edit-disk-policy-reason"), "to give a disk a custom SCSI command policy") {
		t.Fatalf("Edit Disk for a user without the privilege: custom policies enabled, or the reason is %q", b.Text("#edit-disk-policy-reason"))
	}
	b.Screenshot("dialog-edit-disk-unprivileged")
	b.Click("#dialog-cancel")
	faultOf(t, b, http.StatusForbidden, "PUT", "/disks/"+diskByAlias(ctx, t, e, "portal-lun").ID, `{"scsi_policy":{"name":"portal-nopr"}}`)
	wantEnforced(ctx, t, e, "portal-lun", "reservations")
}
