// Package portal tests the web admin portal in headless Chromium against a
// real engine with a local host: log in, create a VM with VirtIO-SCSI, add
// disks and hot-plug one into a running guest, change a LUN's SCSI command
// policy live, define SCSI command policies, the SCSI I/O privilege as a
// user without it, and a custom role. Every dialog is saved as a screenshot.
package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/test/e2e/e2eutil"
	"github.com/govirt/govirt/test/portal/portalutil"
)

// GuestWait bounds a TCG guest's boot and its agent's first report.
const GuestWait = 6 * time.Minute

func TestPortal(t *testing.T) {
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{})
	portalutil.RequireBuilt(t, e.URL)
	img := e2eutil.Guest(t)
	ctx := e2eutil.Context(t, 25*time.Minute)
	b := portalutil.Start(t)

	// A cluster of level 3.2, which predates VirtIO-SCSI.
	var dc ovirt.DataCenter
	old := &ovirt.Version{Major: ovirt.I(3), Minor: ovirt.I(2)}
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/datacenters", ovirt.DataCenter{Name: ovirt.Str("old"), Version: old}, &dc)
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/clusters", ovirt.Cluster{Name: ovirt.Str("old32"), Version: old, DataCenter: &ovirt.Ref{ID: dc.ID}}, nil)

	// Log in; the session survives a reload.
	b.Login(e.URL, "admin@internal", e2eutil.AdminPassword)
	b.WaitVisible("#vm-table")
	b.Run("reload", portalutil.Step, chromedp.Reload(), chromedp.WaitVisible("#vm-table", chromedp.ByID))
	if got := b.Text("#current-user"); got != "admin@internal" {
		t.Fatalf("after a reload the masthead shows %q, want admin@internal", got)
	}

	// New VM with VirtIO-SCSI, I/O threads and multi-queue; direct boot of
	// the test guest from the Boot Options tab.
	const vmName = "portal-vm1"
	b.Click("#vm-new")
	b.WaitVisible("#vm-dialog")
	b.SetInput("#vm-name", vmName)
	b.SetInput("#vm-os", "debian")
	b.SetInput("#vm-memory", "384")
	b.Click(`#vm-dialog [data-tab="resources"]`)
	if !b.Bool("VirtIO-SCSI enabled by default", `document.querySelector('#vm-virtio-scsi').checked && !document.querySelector('#vm-virtio-scsi').disabled`) {
		t.Fatal("VirtIO-SCSI Enabled is not checked and enabled for Debian in a 4.8 cluster")
	}
	b.SetInput("#vm-iothreads", "1")
	b.SetInput("#vm-multiqueue", "auto")
	b.Screenshot("dialog-new-vm-resource-allocation")
	b.Click(`#vm-dialog [data-tab="boot"]`)
	b.SetInput("#vm-kernel", img.Kernel)
	b.SetInput("#vm-initrd", img.Initrd)
	b.SetInput("#vm-cmdline", img.Cmdline)
	b.Click("#dialog-ok")
	b.WaitGone("#vm-dialog")
	b.WaitVisible(fmt.Sprintf(`#vm-table tr[data-name=%q]`, vmName))
	vm := vmByName(ctx, t, e, vmName)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, _ = e.Do(ctx, "POST", "/vms/"+vm.ID+"/stop", ovirt.Action{}, nil)
	})
	if on := vm.VirtioSCSI.IsEnabled(); on == nil || !*on || vm.IO == nil || vm.IO.Threads == nil || *vm.IO.Threads != 1 {
		t.Fatalf("the VM the dialog created: virtio_scsi %v, io %v", vm.VirtioSCSI, vm.IO)
	}

	// The same dialog with Windows XP: VirtIO-SCSI is disabled with the
	// reason. A duplicate name shows the API's fault detail in the dialog.
	b.Click("#vm-new")
	b.WaitVisible("#vm-dialog")
	b.SetInput("#vm-name", vmName)
	b.SetInput("#vm-os", "windows_xp")
	b.Click(`#vm-dialog [data-tab="resources"]`)
	b.WaitVisible("#vm-virtio-scsi-reason")
	if reason := b.Text("#vm-virtio-scsi-reason"); !b.Bool("disabled", `document.querySelector('#vm-virtio-scsi').disabled`) || !strings.Contains(reason, "no VirtIO-SCSI driver") {
		t.Fatalf("VirtIO-SCSI for Windows XP: reason %q; want it disabled with the reason", reason)
	}
	b.Screenshot("dialog-new-vm-virtio-scsi-disabled")
	b.SetInput("#vm-os", "debian")
	if b.Bool("enabled again for Debian", `document.querySelector('#vm-virtio-scsi').disabled`) {
		t.Fatal("VirtIO-SCSI stays disabled for Debian in a 4.8 cluster")
	}
	b.Eval("choose the 3.2 cluster", `(() => { const s = document.querySelector('#vm-cluster'); s.disabled = false;
		s.value = [...s.options].find((o) => o.text.startsWith('old32')).value; s.dispatchEvent(new Event('change')); })()`, nil)
	b.WaitJS("the cluster level's reason", `(document.querySelector('#vm-virtio-scsi-reason') || {}).innerText?.includes('3.2 does not support VirtIO-SCSI')`,
		`(document.querySelector('#vm-virtio-scsi-reason') || {}).innerText`, portalutil.Step)
	b.Screenshot("dialog-new-vm-virtio-scsi-cluster-level")
	b.SetInput("#vm-os", "windows_xp")
	b.Eval("back to Default", `(() => { const s = document.querySelector('#vm-cluster');
		s.value = [...s.options].find((o) => o.text.startsWith('Default')).value; s.dispatchEvent(new Event('change')); })()`, nil)
	b.Click("#dialog-ok")
	b.WaitVisible("#dialog-error")
	st, raw := b.Fetch("POST", "/vms", fmt.Sprintf(`{"name":%q,"cluster":{"name":"Default"},"os":{"type":"windows_xp"}}`, vmName))
	var fault ovirt.Fault
	if err := json.Unmarshal([]byte(raw), &fault); err != nil || st != http.StatusConflict || fault.Detail == "" {
		t.Fatalf("the API on a duplicate name: %d %s", st, raw)
	}
	if shown := b.Text("#dialog-error"); !strings.Contains(shown, fault.Detail) {
		t.Fatalf("the dialog shows %q, not the API's fault detail %q", shown, fault.Detail)
	}
	b.Screenshot("dialog-new-vm-fault")
	b.Click("#dialog-cancel")

	b.Screenshot("vm-list")

	// The VM's Disks tab: a new image disk, active, and one inactive.
	b.Click(fmt.Sprintf(`#vm-table tr[data-name=%q] a`, vmName))
	b.Click(`[data-tab="disks"]`)
	b.WaitVisible("#disk-table")
	addImage(b, "portal-d1", true, "dialog-new-disk-image")
	addImage(b, "portal-d2", false, "")
	if got := b.Text(`#disk-table tr[data-name="portal-d1"]`); !strings.Contains(got, "virtio_scsi") || !strings.Contains(got, "1 GiB") {
		t.Fatalf("portal-d1 in the Disks tab: %q", got)
	}

	// The Direct LUN tab as admin: privileged SCSI I/O may be allowed, with a
	// custom SCSI command policy (the preset "reservations") that the host's
	// iSCSI proxy enforces once the VM runs.
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	b.Click("#disk-new")
	b.WaitVisible("#disk-dialog")
	b.Click(`#disk-dialog [data-tab="lun"]`)
	b.SetInput("#lun-alias", "portal-lun")
	b.SetInput("#lun-address", tg.Portal)
	b.SetInput("#lun-port", fmt.Sprint(tg.Port))
	b.SetInput("#lun-target", tg.IQN)
	b.SetInput("#lun-number", "1")
	b.SetInput("#lun-serial", tg.Serials[1])
	if !b.Bool("pass-through on", `document.querySelector('#lun-passthrough').checked`) ||
		b.Bool("privileged disabled for admin", `document.querySelector('#lun-privileged').disabled`) {
		t.Fatal("for admin@internal on VirtIO-SCSI, Enable SCSI Pass-Through is off or Allow Privileged SCSI I/O disabled")
	}
	if !b.Bool("policy select disabled", `document.querySelector('#lun-policy').disabled`) {
		t.Fatal("the SCSI Command Policy select is enabled without Allow Privileged SCSI I/O")
	}
	b.SetChecked("#lun-privileged", true)
	if b.Bool("policy select disabled", `document.querySelector('#lun-policy').disabled`) {
		t.Fatal("the SCSI Command Policy select stays disabled with Allow Privileged SCSI I/O")
	}
	b.SetInput("#lun-policy", "reservations")
	b.Screenshot("dialog-new-disk-direct-lun")
	b.Click("#dialog-ok")
	b.WaitGone("#disk-dialog")
	b.WaitVisible(`#disk-table tr[data-name="portal-lun"]`)
	if got := b.Text(`#disk-table tr[data-name="portal-lun"]`); !strings.Contains(got, "policy reservations") {
		t.Fatalf("portal-lun in the Disks tab: %q, want pass-through with policy reservations", got)
	}

	// Attach an existing floating disk from the Image tab; Edit VM keeps
	// what the VM has.
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/disks", ovirt.Disk{Alias: ovirt.Str("portal-floating"), Format: ovirt.Str("cow"),
		ProvisionedSize: ovirt.I(16 << 20), StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{Name: ovirt.Str("local")}}}}, nil)
	b.Click("#disk-attach")
	b.Click(`#attach-image-table tr[data-name="portal-floating"] td`)
	b.WaitVisible(`#attach-image-table tr.gv-selected[data-name="portal-floating"]`)
	b.SetChecked("#attach-active", false)
	b.Screenshot("dialog-attach-disk")
	b.Click("#dialog-ok")
	b.WaitGone("#attach-dialog")
	b.WaitVisible(`#disk-table tr[data-name="portal-floating"]`)
	b.Click("#vm-edit")
	b.WaitVisible("#vm-dialog")
	if got := b.Text("#vm-dialog .pf-v6-c-modal-box__title"); got != "Edit Virtual Machine" || !b.Bool("name kept", `document.querySelector('#vm-name').value === `+fmt.Sprintf("%q", vmName)) {
		t.Fatalf("Edit VM dialog: title %q, or the name is not the VM's", got)
	}
	b.Screenshot("dialog-edit-vm")
	b.Click("#dialog-cancel")

	// Run the VM; the guest agent reports portal-d1's logical name.
	b.Click("#vm-run")
	b.WaitJS("the VM is up", `document.querySelector('[data-status="up"]')`, `document.querySelector('#vm-title').parentElement.innerText`, GuestWait)
	waitLogicalName(b, "portal-d1", true)
	waitLogicalName(b, "portal-lun", true)

	// Hot-plug portal-d2 through Activate, with progress until the guest has it.
	selectDisk(b, "portal-d2")
	b.Click("#disk-activate")
	b.Screenshot("hotplug-in-progress")
	name := waitLogicalName(b, "portal-d2", true)
	if api := attachmentByAlias(ctx, t, e, vm.ID, "portal-d2"); api.LogicalName == nil || *api.LogicalName != name {
		t.Fatalf("the Disks tab shows %q for portal-d2, the API %v", name, api.LogicalName)
	}
	b.Screenshot("disks-tab-after-hotplug")

	// Deactivate it again: progress until the guest released it.
	selectDisk(b, "portal-d2")
	b.Click("#disk-deactivate")
	waitLogicalName(b, "portal-d2", false)
	if b.Text(`#disk-table tr[data-name="portal-d2"] [data-active]`) != " Inactive" {
		t.Fatalf("portal-d2 after Deactivate: %q", b.Text(`#disk-table tr[data-name="portal-d2"]`))
	}

	// Edit Disk while the guest runs: portal-lun goes from the policy
	// "reservations" to "filtered" (from the VM's Disks tab) and back (from
	// the Disks view); the engine pushes each to the host's iSCSI proxy, and
	// the API says what is enforced.
	editLUNPolicy(b, t, "#disk-table", "portal-lun", "reservations", "filtered", "dialog-edit-disk-lun")
	wantEnforced(ctx, t, e, "portal-lun", "filtered")
	if got := b.Text(`#disk-table tr[data-name="portal-lun"]`); strings.Contains(got, "policy") {
		t.Fatalf("portal-lun in the Disks tab after Edit Disk: %q, want plain pass-through (filtered)", got)
	}
	b.Click(`[data-nav="disks"]`)
	editLUNPolicy(b, t, "#disks-table", "portal-lun", "filtered", "reservations", "dialog-edit-disk-lun-custom")
	wantEnforced(ctx, t, e, "portal-lun", "reservations")
	if got := b.Text(`#disks-table tr[data-name="portal-lun"]`); !strings.Contains(got, "Yes (policy reservations)") {
		t.Fatalf("portal-lun in the Disks view after Edit Disk: %q", got)
	}

	// Live status: the VM list follows a change made elsewhere (here
	// through the API) without a reload or a click.
	b.Click(`[data-nav="vms"]`)
	b.WaitVisible(fmt.Sprintf(`#vm-table tr[data-name=%q] [data-status="up"]`, vmName))
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/stop", ovirt.Action{}, nil)
	b.WaitJS("the list shows the VM down", fmt.Sprintf(`document.querySelector('#vm-table tr[data-name=%q] [data-status="down"]')`, vmName),
		fmt.Sprintf(`document.querySelector('#vm-table tr[data-name=%q]').innerText`, vmName), time.Minute)

	// A custom role with Manipulate SCSI I/O Privileges from the tree.
	createRole(ctx, t, b, e)
	editRole(ctx, t, b, e)

	// SCSI command policies: a new one, and one in use that stays.
	scsiPoliciesAsAdmin(ctx, t, b, e)

	// A user without the SCSI I/O privilege: the checkbox is disabled with
	// the reason, and the API refuses anyway.
	bob := addUser(ctx, t, e, "bob", "bob-pass")
	grant(ctx, t, e, "/vms/"+vm.ID, "UserVmManager", bob)
	grant(ctx, t, e, "", "DiskCreator", bob)
	tourViews(b, vmName)
	adminToken := sessionToken(b)
	b.Click("#logout")
	b.WaitVisible("#login-user")
	if st, _, err := e.DoAs(ctx, adminToken, "GET", "/vms", nil, nil); err != nil || st != http.StatusUnauthorized {
		t.Fatalf("admin's token after Log out: status %d (%v), want 401: not revoked", st, err)
	}
	b.Login(e.URL, "bob@internal", "bob-pass")
	b.Click(fmt.Sprintf(`#vm-table tr[data-name=%q] a`, vmName))
	b.Click(`[data-tab="disks"]`)
	b.Click("#disk-new")
	b.WaitVisible("#disk-dialog")
	b.Click(`#disk-dialog [data-tab="lun"]`)
	b.WaitVisible("#lun-privileged-reason")
	if !b.Bool("privileged disabled for bob", `document.querySelector('#lun-privileged').disabled`) ||
		!strings.Contains(b.Text("#lun-privileged-reason"), "Manipulate SCSI I/O Privileges") {
		t.Fatalf("Allow Privileged SCSI I/O for bob: enabled, or no reason (%q)", b.Text("#lun-privileged-reason"))
	}
	if !b.Bool("policy select disabled for bob", `document.querySelector('#lun-policy').disabled`) {
		t.Fatal("bob may choose a SCSI command policy")
	}
	b.Screenshot("dialog-new-disk-lun-unprivileged")
	b.Click("#dialog-cancel")
	st, raw = b.Fetch("POST", "/vms/"+vm.ID+"/diskattachments", `{"interface":"virtio_scsi","active":"false","disk":{"alias":"bob-lun","sgio":"unfiltered",
		"lun_storage":{"type":"iscsi","logical_units":{"logical_unit":[{"address":"127.0.0.1","port":"3260","target":"iqn.2026-11.dev.govirt:none","lun_mapping":"1"}]}}}}`)
	if st != http.StatusForbidden {
		t.Fatalf("the API let bob create an unfiltered LUN: %d %s", st, raw)
	}
	editDiskUnprivileged(ctx, t, b, e)
	scsiPoliciesUnprivileged(t, b)
	if errs := b.PageErrors(); len(errs) > 0 {
		t.Errorf("the page reported %d errors (exceptions, console errors, CSP violations):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

func vmByName(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, name string) ovirt.VM {
	t.Helper()
	var vms ovirt.VMs
	e.MustDo(ctx, t, http.StatusOK, "GET", "/vms?search=name%3D"+name, nil, &vms)
	if len(vms.VMs) != 1 {
		t.Fatalf("VM %s: %d found", name, len(vms.VMs))
	}
	return vms.VMs[0]
}

// addImage creates an image disk from the VM's Disks tab.
func addImage(b *portalutil.Browser, alias string, active bool, shot string) {
	b.Click("#disk-new")
	b.WaitVisible("#disk-dialog")
	b.SetInput("#disk-alias", alias)
	b.SetInput("#disk-size", "1")
	b.SetInput("#disk-interface", "virtio_scsi")
	b.SetChecked("#disk-active", active)
	if shot != "" {
		b.Screenshot(shot)
	}
	b.Click("#dialog-ok")
	b.WaitGone("#disk-dialog")
	b.WaitVisible(fmt.Sprintf(`#disk-table tr[data-name=%q]`, alias))
}

func selectDisk(b *portalutil.Browser, alias string) {
	b.Click(fmt.Sprintf(`#disk-table tr[data-name=%q] td`, alias))
	b.WaitVisible(fmt.Sprintf(`#disk-table tr.gv-selected[data-name=%q]`, alias))
}

// waitLogicalName waits until the Disks tab shows a logical name for the
// disk (present) or none and no hot-plug in progress (!present); it
// returns the name.
func waitLogicalName(b *portalutil.Browser, alias string, present bool) string {
	row := fmt.Sprintf(`document.querySelector('#disk-table tr[data-name=%q]')`, alias)
	cond := fmt.Sprintf(`%s && %s.querySelector('[data-logical-name]').dataset.logicalName !== '' && !%s.querySelector('[data-pending]')`, row, row, row)
	if !present {
		cond = fmt.Sprintf(`%s && %s.querySelector('[data-logical-name]').dataset.logicalName === '' && !%s.querySelector('[data-pending]')`, row, row, row)
	}
	b.WaitJS(fmt.Sprintf("logical name of %s present=%v", alias, present), cond, row+`.innerText + ' | ' + (document.querySelector('#view-error') || {}).innerText`, GuestWait)
	return b.Text(fmt.Sprintf(`#disk-table tr[data-name=%q] [data-logical-name]`, alias))
}

func attachmentByAlias(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID, alias string) ovirt.DiskAttachment {
	t.Helper()
	var atts ovirt.DiskAttachments
	e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vmID+"/diskattachments", nil, &atts)
	for _, a := range atts.DiskAttachments {
		var d ovirt.Disk
		e.MustDo(ctx, t, http.StatusOK, "GET", "/disks/"+a.ID, nil, &d)
		if d.Alias != nil && *d.Alias == alias {
			return a
		}
	}
	t.Fatalf("no attachment of disk %s", alias)
	return ovirt.DiskAttachment{}
}

// createRole makes a custom role in the New Role dialog and checks what
// the API stored.
func createRole(ctx context.Context, t *testing.T, b *portalutil.Browser, e *e2eutil.EngineProc) {
	t.Helper()
	b.Click(`[data-nav="roles"]`)
	b.Click("#role-new")
	b.WaitVisible("#role-dialog")
	b.SetInput("#role-name", "ScsiOperator")
	b.SetChecked("#role-type-admin", true)
	b.Click("#role-expand")
	b.WaitVisible(`[data-permit="configure_scsi_generic_io"]`)
	if label := b.Text(`label[for="permit-configure_scsi_generic_io"]`); strings.TrimSpace(label) != "Manipulate SCSI I/O Privileges" {
		t.Fatalf("the tree labels configure_scsi_generic_io %q", label)
	}
	for _, p := range []string{"configure_scsi_generic_io", "create_disk", "attach_disk"} {
		b.SetChecked(`[data-permit="`+p+`"]`, true)
	}
	b.Eval("show the SCSI I/O permit", `document.querySelector('[data-permit="configure_scsi_generic_io"]').scrollIntoView({block: "center"})`, nil)
	b.Screenshot("dialog-new-role")
	b.Click("#dialog-ok")
	b.WaitGone("#role-dialog")
	b.WaitVisible(`#roles-table tr[data-name="ScsiOperator"]`)
	var roles ovirt.Roles
	e.MustDo(ctx, t, http.StatusOK, "GET", "/roles", nil, &roles)
	for _, r := range roles.Roles {
		if r.Name == nil || *r.Name != "ScsiOperator" {
			continue
		}
		var ps ovirt.Permits
		e.MustDo(ctx, t, http.StatusOK, "GET", "/roles/"+r.ID+"/permits", nil, &ps)
		var names []string
		for _, p := range ps.Permits {
			names = append(names, *p.Name)
		}
		got := strings.Join(names, ",")
		for _, want := range []string{"configure_scsi_generic_io", "create_disk", "attach_disk", "login"} {
			if !strings.Contains(got, want) {
				t.Fatalf("role ScsiOperator has permits %s, lacks %s", got, want)
			}
		}
		return
	}
	t.Fatal("the New Role dialog created no role ScsiOperator")
}

// editRole takes attach_disk away from ScsiOperator in the Edit Role
// dialog and checks the API's permits.
func editRole(ctx context.Context, t *testing.T, b *portalutil.Browser, e *e2eutil.EngineProc) {
	t.Helper()
	b.Click(`#roles-table tr[data-name="ScsiOperator"] td`)
	b.Click("#role-edit")
	b.WaitVisible("#role-dialog")
	b.Click("#role-expand")
	if !b.Bool("permits kept", `document.querySelector('[data-permit="configure_scsi_generic_io"]').checked && document.querySelector('[data-permit="attach_disk"]').checked`) {
		t.Fatal("the Edit Role dialog does not show the role's permits checked")
	}
	b.SetChecked(`[data-permit="attach_disk"]`, false)
	b.Screenshot("dialog-edit-role")
	b.Click("#dialog-ok")
	b.WaitGone("#role-dialog")
	var roles ovirt.Roles
	e.MustDo(ctx, t, http.StatusOK, "GET", "/roles", nil, &roles)
	for _, r := range roles.Roles {
		if r.Name != nil && *r.Name == "ScsiOperator" {
			var ps ovirt.Permits
			e.MustDo(ctx, t, http.StatusOK, "GET", "/roles/"+r.ID+"/permits", nil, &ps)
			for _, p := range ps.Permits {
				if *p.Name == "attach_disk" {
					t.Fatal("Edit Role kept attach_disk")
				}
			}
			if len(ps.Permits) != 3 {
				t.Fatalf("ScsiOperator after Edit Role: %d permits, want 3 (login, create_disk, configure_scsi_generic_io)", len(ps.Permits))
			}
		}
	}
}

func addUser(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, name, pass string) string {
	t.Helper()
	var u ovirt.User
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/users", ovirt.User{UserName: ovirt.Str(name + "@internal"), Password: ovirt.Str(pass),
		Domain: &ovirt.Domain{Name: ovirt.Str("internal-authz")}}, &u)
	return u.ID
}

func grant(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, objPath, role, userID string) {
	t.Helper()
	e.MustDo(ctx, t, http.StatusCreated, "POST", objPath+"/permissions", ovirt.Permission{Role: &ovirt.Role{Name: ovirt.Str(role)}, User: &ovirt.User{ID: userID}}, nil)
}

// sessionToken reads the portal's token from the page.
func sessionToken(b *portalutil.Browser) string {
	var tok string
	b.Eval("read the session", `JSON.parse(localStorage.getItem('govirt.session')).token`, &tok)
	return tok
}

// tourViews opens every other view and checks that it shows what the
// test made, saving a screenshot of each.
func tourViews(b *portalutil.Browser, vmName string) {
	for _, v := range []struct{ nav, row, want string }{
		{"disks", `#disks-table tr[data-name="portal-d1"]`, "Image"},
		{"hosts", `#hosts-table tr[data-name="local"]`, "up"},
		{"storagedomains", `#sds-table tr[data-name="local"]`, "local"},
		{"roles", `#roles-table tr[data-name="ScsiOperator"]`, "Admin"},
		{"permissions", `#perms-table tr[data-id]`, "UserVmManager"},
		{"events", `#events-table tr[data-id]`, vmName},
	} {
		b.Click(`[data-nav="` + v.nav + `"]`)
		b.WaitVisible(v.row)
		b.WaitJS(v.nav+" shows "+v.want, fmt.Sprintf(`[...document.querySelectorAll(%q)].some((r) => r.innerText.includes(%q))`, v.row, v.want),
			fmt.Sprintf(`document.querySelector(%q).closest('table').innerText`, v.row), portalutil.Step)
		b.Screenshot("view-" + v.nav)
	}
}
