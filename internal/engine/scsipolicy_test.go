package engine

import (
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

func TestSCSIPolicyLifecycle(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		notErr(t, v.e.EnsureSCSIPolicyPresets(v.ctx))
		notErr(t, v.e.EnsureSCSIPolicyPresets(v.ctx)) // idempotent
		all, err := v.e.ListSCSIPolicies(v.ctx)
		notErr(t, err)
		var names []string
		for _, p := range all {
			names = append(names, p.Name)
		}
		if got := strings.Join(names, ","); got != "filtered,unfiltered,reservations,trim" {
			t.Fatalf("policies %s", got)
		}
		for _, c := range []struct {
			name string
			p    model.SCSIPolicy
			key  string
		}{
			{"reserved name", model.SCSIPolicy{Name: "unfiltered", Base: "filtered"}, apperr.SCSIPolicyInvalid},
			{"unknown command", model.SCSIPolicy{Name: "x", Base: "filtered", Allow: []string{"frobnicate"}}, apperr.SCSIPolicyInvalid},
			{"bad base", model.SCSIPolicy{Name: "x", Base: "most"}, apperr.SCSIPolicyInvalid},
			{"name taken", model.SCSIPolicy{Name: "trim", Base: "filtered"}, apperr.NameAlreadyUsed},
		} {
			_, err := v.e.AddSCSIPolicy(v.ctx, c.p)
			if apperr.KeyOf(err) != c.key {
				t.Errorf("%s: %v, want %s", c.name, err, c.key)
			}
		}
		wb, err := v.e.AddSCSIPolicy(v.ctx, model.SCSIPolicy{Name: "write-buffer", Base: "filtered", Allow: []string{"0x3b"}})
		notErr(t, err)

		// Disks: a custom policy only on a pass-through LUN, and it keeps
		// the policy from being removed.
		img := v.imageDisk(t, "img")
		name := "write-buffer"
		_, err = v.e.UpdateDisk(v.ctx, img.ID, DiskParams{SCSIPolicy: &name})
		wantKey(t, err, apperr.SCSIPolicyNeedsPassThrough)
		lun := v.lunDisk(t, "lun", model.SGIOFiltered, 1)
		d, err := v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &name})
		notErr(t, err)
		if d.SCSIPolicy != wb.ID || d.SGIO != model.SGIOUnfiltered {
			t.Errorf("disk with a custom policy: policy %q sgio %q", d.SCSIPolicy, d.SGIO)
		}
		wantKey(t, v.e.RemoveSCSIPolicy(v.ctx, wb.ID), apperr.SCSIPolicyInUse)
		missing := "no-such-policy"
		_, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &missing})
		wantKey(t, err, apperr.ObjectNotFound)
		// sgio names a built-in policy again.
		f := model.SGIOFiltered
		d, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SGIO: &f})
		notErr(t, err)
		if eff, _ := v.e.EffectiveSCSIPolicy(v.ctx, d); d.SCSIPolicy != "" || eff.Name != "filtered" {
			t.Errorf("after sgio=filtered: policy %q effective %q", d.SCSIPolicy, eff)
		}
		notErr(t, v.e.RemoveSCSIPolicy(v.ctx, wb.ID))
	})
}

// A plugged LUN's policy changes in the running guest at once, whether the
// disk gets another policy or its policy gets other rules; the VM starts
// with each LUN's policy in its spec.
func TestSCSIPolicyChangesLive(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		notErr(t, v.e.EnsureSCSIPolicyPresets(v.ctx))
		vm := v.vm(t, "vm1", "debian")
		lun := v.lunDisk(t, "lun", model.SGIOFiltered, 1)
		v.attach(t, vm.ID, lun.ID, model.InterfaceVirtIOSCSI)
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		spec := v.host.running[vm.ID]
		if len(spec.Disks) == 0 || spec.Disks[0].SCSIPolicy == nil || spec.Disks[0].SCSIPolicy.Name != "filtered" {
			t.Fatalf("started without the LUN's policy: %+v", spec.Disks)
		}
		name := "reservations"
		_, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &name})
		notErr(t, err)
		calls := strings.Join(v.host.Calls(), "\n")
		if !strings.Contains(calls, "SetSCSIPolicy "+vm.ID+" "+lun.ID+" reservations") {
			t.Fatalf("policy not changed live; host calls:\n%s", calls)
		}
		// The host refusing leaves the disk as it was.
		v.host.fail["SetSCSIPolicy"] = errString("proxy gone")
		un := "unfiltered"
		_, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &un})
		wantKey(t, err, apperr.HostCallFailed)
		delete(v.host.fail, "SetSCSIPolicy")
		if eff, _ := v.e.EffectiveSCSIPolicy(v.ctx, v.diskByID(t, lun.ID)); eff.Name != "reservations" {
			t.Errorf("after a refused change the disk is held to %q", eff)
		}
		// Editing the policy itself reaches the guest too.
		all, _ := v.e.ListSCSIPolicies(v.ctx)
		for _, p := range all {
			if p.Name == "reservations" {
				p.Allow = append(p.Allow, "write-buffer")
				_, err = v.e.UpdateSCSIPolicy(v.ctx, p)
				notErr(t, err)
			}
		}
		if n := strings.Count(strings.Join(v.host.Calls(), "\n"), "SetSCSIPolicy "+vm.ID+" "+lun.ID+" reservations"); n != 2 {
			t.Errorf("%d live pushes of reservations, want 2", n)
		}
	})
}

// SCSI reservation needs a policy that admits PERSISTENT RESERVE IN/OUT.
func TestReservationNeedsAnAdmittingPolicy(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		notErr(t, v.e.EnsureSCSIPolicyPresets(v.ctx))
		vm := v.vm(t, "vm1", "debian")
		lun := v.lunDisk(t, "lun", model.SGIOFiltered, 1)
		trim := "trim"
		_, err := v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &trim})
		notErr(t, err)
		iface := model.InterfaceVirtIOSCSI
		_, err = v.e.AttachDisk(v.ctx, vm.ID, lun.ID, AttachParams{Interface: &iface, UsesSCSIReservation: ptr(true)})
		wantKey(t, err, apperr.ReservationNeedsPolicy)
		res := "reservations"
		_, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &res})
		notErr(t, err)
		v.attach(t, vm.ID, lun.ID, iface, func(p *AttachParams) { p.UsesSCSIReservation = ptr(true) })
		// ... and the policy cannot then lose them.
		_, err = v.e.UpdateDisk(v.ctx, lun.ID, DiskParams{SCSIPolicy: &trim})
		wantKey(t, err, apperr.ReservationNeedsPolicy)
	})
}

type errString string

func (e errString) Error() string { return string(e) }

func (v *env) diskByID(t *testing.T, id string) model.Disk {
	t.Helper()
	var d model.Disk
	notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.GetDisk(v.ctx, id)
		return err
	}))
	return d
}

// ReportGuestDisks says how many active disks the guest does not show yet;
// a LUN whose serial the engine does not know cannot be named and does not
// count.
func TestReportGuestDisksCountsUnnamed(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		img := v.imageDisk(t, "img")
		v.attach(t, vm.ID, img.ID, model.InterfaceVirtIOSCSI)
		lun := v.lunDisk(t, "lun", model.SGIOFiltered, 1) // no serial known
		v.attach(t, vm.ID, lun.ID, model.InterfaceVirtIOSCSI)
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		n, err := v.e.ReportGuestDisks(v.ctx, vm.ID, nil)
		notErr(t, err)
		if n != 1 {
			t.Errorf("no disk in the guest: %d unnamed, want 1 (the image; the LUN cannot be named)", n)
		}
		n, err = v.e.ReportGuestDisks(v.ctx, vm.ID, []GuestDisk{{Name: "/dev/sda", Serial: img.ID[:GuestSerialLen]}})
		notErr(t, err)
		if n != 0 {
			t.Errorf("the image named: %d unnamed, want 0", n)
		}
	})
}
