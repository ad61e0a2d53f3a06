package engine

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// settledEvents counts the VM_DEVICE_CHANGE_SETTLED events of a disk.
func (v *env) settledEvents(t *testing.T, diskID string) int {
	t.Helper()
	var n int
	for _, e := range v.events(t, 1000) {
		if e.Code == "VM_DEVICE_CHANGE_SETTLED" && e.DiskID == diskID {
			n++
		}
	}
	return n
}

// liveWith is the live-device report of a domain that holds exactly ids.
func (v *env) liveWith(t *testing.T, vmID string, ids ...string) []LiveDisk {
	var out []LiveDisk
	for _, id := range ids {
		out = append(out, LiveDisk{ID: id, Address: v.device(t, vmID, id).Address})
	}
	return out
}

// A host that stops answering in the middle of a plug or unplug leaves the
// change in doubt; the next report of the live domain settles it either way,
// and until then the address stays reserved.
func TestPlugInDoubtSettledByTheLiveDomain(t *testing.T) {
	cases := []struct {
		name        string
		plug        bool // a plug (the disk starts inactive) or an unplug
		domainHasIt bool
		wantActive  bool
	}{
		{"plug the domain took", true, true, true},
		{"plug the domain never saw", true, false, false},
		{"unplug the guest never did", false, true, true},
		{"unplug that happened", false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, v *env) {
				vm := v.vm(t, "vm1", "debian")
				_, err := v.e.RunVM(v.ctx, vm.ID)
				notErr(t, err)
				d := v.imageDisk(t, "d")
				v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Active = ptr(!c.plug) })
				method := "HotUnplugDisk"
				if c.plug {
					method = "HotPlugDisk"
				}
				v.host.fail[method] = fmt.Errorf("%w: connection reset", agent.ErrHostUnreachable)
				if c.plug {
					_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
				} else {
					_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
				}
				wantKey(t, err, apperr.HostCallFailed)
				delete(v.host.fail, method)
				dev := v.device(t, vm.ID, d.ID)
				if !dev.Plugged || dev.Pending == model.PendingNone || dev.Address == nil {
					t.Fatalf("in doubt: plugged %v pending %q address %v; want the reservation kept", dev.Plugged, dev.Pending, dev.Address)
				}
				// No second plug or unplug of the disk while it is in doubt.
				_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
				wantKey(t, err, apperr.DiskIsLocked)
				// The reserved address is not handed out meanwhile.
				other := v.imageDisk(t, "other")
				v.attach(t, vm.ID, other.ID, model.InterfaceVirtIOSCSI)
				if *v.device(t, vm.ID, other.ID).Address == *dev.Address {
					t.Fatalf("address %v given twice while a plug was in doubt", *dev.Address)
				}
				live := v.liveWith(t, vm.ID, other.ID)
				if c.domainHasIt {
					live = v.liveWith(t, vm.ID, other.ID, d.ID)
				}
				notErr(t, v.e.ReportLiveDisks(v.ctx, vm.ID, LiveReport{Live: live}))
				dev = v.device(t, vm.ID, d.ID)
				a, err := v.e.getAttachment(v.ctx, vm.ID, d.ID)
				notErr(t, err)
				if dev.Pending != model.PendingNone || dev.Plugged != c.wantActive || a.Active != c.wantActive {
					t.Errorf("settled: pending %q plugged %v active %v; want plugged and active %v", dev.Pending, dev.Plugged, a.Active, c.wantActive)
				}
				if n := v.settledEvents(t, d.ID); n != 1 {
					t.Errorf("%d settle events, want 1", n)
				}
			})
		})
	}
}

// An engine that died between reserving a plug and hearing from the host
// leaves the device pending under its run id: the next engine process
// settles it by the live domain, while the process that started a plug
// never settles its own plug in flight.
func TestCrashedEnginesPlugSettledByTheNextEngine(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		took, lost := v.imageDisk(t, "took"), v.imageDisk(t, "lost")
		for _, d := range []model.Disk{took, lost} {
			v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Active = ptr(false) })
			// What UpdateAttachment's first transaction does before the
			// host call; the "crash" comes right after it.
			notErr(t, v.st.Tx(v.ctx, func(tx store.Tx) error {
				s, err := v.e.loadVM(v.ctx, tx, vm.ID, apperr.ActionHotPlug, apperr.TypeDisk)
				if err != nil {
					return err
				}
				old, _ := s.attachment(d.ID)
				a := old
				a.Active = true
				if err := v.e.applyAttachment(v.ctx, tx, apperr.ActionHotPlug, s, old, a, true); err != nil {
					return err
				}
				return v.e.markPending(v.ctx, tx, s, d.ID, model.PendingPlug)
			}))
		}
		live := v.liveWith(t, vm.ID, took.ID)
		// The same process: its plugs are in flight, not interrupted.
		notErr(t, v.e.ReportLiveDisks(v.ctx, vm.ID, LiveReport{Live: live, Gone: []string{lost.ID}}))
		if dev := v.device(t, vm.ID, lost.ID); dev.Pending != model.PendingPlug || !dev.Plugged {
			t.Fatalf("the engine settled (or unplugged) its own plug in flight: %+v", dev)
		}
		// A restarted engine on the same database.
		next := New(Deps{Store: v.st, Hosts: fakeHosts{v.host}, Log: slog.New(slog.DiscardHandler)})
		// The host still carries out the dead engine's plug of lost: it is
		// not settled while the host says so (it may yet appear).
		notErr(t, next.ReportLiveDisks(v.ctx, vm.ID, LiveReport{Live: live, Busy: []string{lost.ID}}))
		if dev := v.device(t, vm.ID, lost.ID); dev.Pending != model.PendingPlug {
			t.Fatalf("a plug the host is still carrying out was settled: %+v", dev)
		}
		notErr(t, next.ReportLiveDisks(v.ctx, vm.ID, LiveReport{Live: live}))
		for _, c := range []struct {
			d    model.Disk
			want bool
		}{{took, true}, {lost, false}} {
			dev := v.device(t, vm.ID, c.d.ID)
			a, err := next.getAttachment(v.ctx, vm.ID, c.d.ID)
			notErr(t, err)
			if dev.Pending != model.PendingNone || dev.Plugged != c.want || a.Active != c.want {
				t.Errorf("%s after restart: pending %q plugged %v active %v, want %v", c.d.Alias, dev.Pending, dev.Plugged, a.Active, c.want)
			}
		}
		// The rolled-back disk's address is free again: plugging it works.
		_, err = next.HotPlug(v.ctx, vm.ID, lost.ID)
		notErr(t, err)
	})
}

// A host that stops answering makes its running VMs unknown; when it
// answers again, its list decides: listed VMs are up again, others down.
func TestHostLossMakesVMsUnknownUntilItReports(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		a, b := v.vm(t, "a", "debian"), v.vm(t, "b", "debian")
		for _, vm := range []model.VM{a, b} {
			_, err := v.e.RunVM(v.ctx, vm.ID)
			notErr(t, err)
		}
		hostID := v.mustVM(t, a.ID).HostID
		notErr(t, v.e.HostNotResponding(v.ctx, hostID))
		for _, vm := range []model.VM{a, b} {
			if st := v.mustVM(t, vm.ID).Status; st != model.VMUnknown {
				t.Fatalf("%s is %s after its host stopped answering, want unknown", vm.Name, st)
			}
		}
		notErr(t, v.e.ReportRunning(v.ctx, hostID, map[string]bool{a.ID: true}, nil))
		if got := v.mustVM(t, a.ID); got.Status != model.VMUp || got.HostID != hostID {
			t.Errorf("listed VM: %s on %q, want up on the host", got.Status, got.HostID)
		}
		if got := v.mustVM(t, b.ID); got.Status != model.VMDown {
			t.Errorf("unlisted VM: %s, want down", got.Status)
		}
	})
}

func (v *env) mustVM(t *testing.T, id string) model.VM {
	t.Helper()
	vm, err := v.e.getVM(v.ctx, id)
	notErr(t, err)
	return vm
}

// A disk whose volume creation a crash interrupted stays locked in the
// database; the next engine removes it and the partial volume.
func TestRecoverAtStartRemovesDisksLeftLocked(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		ok := v.imageDisk(t, "ok")
		stuck := ok
		stuck.ID, stuck.Alias, stuck.Status = "00000000-0000-0000-0000-00000000dead", "stuck", model.DiskLocked
		notErr(t, v.st.Tx(v.ctx, func(tx store.Tx) error { return tx.InsertDisk(v.ctx, stuck) }))
		notErr(t, v.e.RecoverAtStart(v.ctx))
		notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
			if _, err := tx.GetDisk(v.ctx, stuck.ID); err == nil {
				t.Error("the locked disk is still there")
			}
			if _, err := tx.GetDisk(v.ctx, ok.ID); err != nil {
				t.Errorf("a finished disk went too: %v", err)
			}
			return nil
		}))
		if calls := strings.Join(v.host.Calls(), "\n"); !strings.Contains(calls, "RemoveVolume") || !strings.Contains(calls, stuck.ID) {
			t.Errorf("the partial volume was not removed; host calls:\n%s", calls)
		}
	})
}

// A disk the live domain holds although its row says unplugged (libvirtd
// finished a plug after the engine rolled it back) is adopted at the live
// address, unless another plugged disk holds that address.
func TestAppearedDiskAdopted(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		held, clash, named := v.imageDisk(t, "held"), v.imageDisk(t, "clash"), v.imageDisk(t, "named")
		plugged := v.imageDisk(t, "plugged")
		v.attach(t, vm.ID, plugged.ID, model.InterfaceVirtIOSCSI)
		for _, d := range []model.Disk{held, clash, named} {
			v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Active = ptr(false) })
		}
		taken := *v.device(t, vm.ID, plugged.ID).Address
		free := taken
		free.Unit += 7
		other := free
		other.Unit++
		pluggedName := v.device(t, vm.ID, plugged.ID).TargetDev
		live := []LiveDisk{{ID: plugged.ID, Address: &taken, TargetDev: pluggedName}, {ID: held.ID, Address: &free, TargetDev: "sdq"},
			{ID: clash.ID, Address: &taken}, {ID: named.ID, Address: &other, TargetDev: pluggedName}}
		notErr(t, v.e.ReportLiveDisks(v.ctx, vm.ID, LiveReport{Live: live, Appeared: []string{held.ID, clash.ID, named.ID}}))
		if dev := v.device(t, vm.ID, held.ID); !dev.Plugged || dev.Address == nil || *dev.Address != free || dev.TargetDev != "sdq" {
			t.Errorf("held disk: plugged %v at %v as %q, want plugged at %v as the domain names it, sdq", dev.Plugged, dev.Address, dev.TargetDev, free)
		}
		if dev := v.device(t, vm.ID, named.ID); dev.Plugged {
			t.Errorf("a disk the domain names as another plugged disk is named was adopted: %+v", dev)
		}
		if a, _ := v.e.getAttachment(v.ctx, vm.ID, held.ID); !a.Active {
			t.Error("held disk's attachment is not active")
		}
		if dev := v.device(t, vm.ID, clash.ID); dev.Plugged {
			t.Errorf("a disk at an address another plugged disk holds was adopted: %+v", dev)
		}
	})
}
