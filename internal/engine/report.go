package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// GuestSerialLen is how much of a disk id every guest sees as the serial
// (virtio-blk's ID and QEMU's SCSI device identification carry 20
// characters); oVirt matches guest disks by it too.
const GuestSerialLen = 20

// ReportRunning records which VMs a host really runs (listed), the host's
// view winning: a VM the engine believes is up there but the host does not
// have went down (the guest powered itself off, or crashed), unless it is in
// grace (missed once: a list taken just before it started); a VM the host
// runs is up there, even if the engine had it down, unknown (its host did
// not answer) or on another host (an engine that crashed between starting
// it and recording so).
func (e *Engine) ReportRunning(ctx context.Context, hostID string, listed, grace map[string]bool) error {
	var gone, found, interrupted []model.VM
	err := e.st.View(ctx, func(tx store.Tx) error {
		vms, err := tx.ListVMs(ctx, store.ListOptions{})
		for _, vm := range vms {
			if vm.Status == model.VMMigrating {
				// Only an interrupted migration is the reports' to settle.
				if vm.MigrationRun != e.runID && (vm.HostID == hostID || vm.MigratingTo == hostID) {
					interrupted = append(interrupted, vm)
				}
				continue
			}
			switch {
			case e.migrated.stale(vm.ID, hostID, listed[vm.ID]):
				// A list from before the VM migrated away from this host.
			case listed[vm.ID]:
				if vm.HostID != hostID || vm.Status.IsDown() || vm.Status == model.VMUnknown {
					found = append(found, vm)
				}
			case vm.HostID == hostID && vm.Status.IsRunning() && vm.Status != model.VMWaitForLaunch && !grace[vm.ID]:
				gone = append(gone, vm)
			case vm.HostID == hostID && vm.Status == model.VMUnknown && !grace[vm.ID]:
				gone = append(gone, vm)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, vm := range gone {
		if err := e.setStatus(ctx, vm, model.VMDown, "VM_DOWN", fmt.Sprintf("VM %s is down.", vm.Name)); err != nil {
			return err
		}
	}
	for _, vm := range found {
		if err := e.adoptRunning(ctx, vm, hostID); err != nil {
			return err
		}
	}
	for _, vm := range interrupted {
		if err := e.interruptedMigration(ctx, vm, hostID, listed[vm.ID]); err != nil {
			return err
		}
	}
	return nil
}

// adoptRunning records that a VM runs on hostID.
func (e *Engine) adoptRunning(ctx context.Context, vm model.VM, hostID string) error {
	unlock := e.locks.lock(vm.ID)
	defer unlock()
	return e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetVM(ctx, vm.ID)
		if err != nil {
			return err
		}
		was := cur.Status
		if cur.Status.IsDown() || cur.Status == model.VMUnknown || cur.Status == model.VMWaitForLaunch {
			cur.Status = model.VMUp
		}
		cur.HostID = hostID
		if err := tx.UpdateVM(ctx, cur); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "VM_STATUS_RESTORED", VMID: vm.ID, HostID: hostID,
			Message: fmt.Sprintf("VM %s runs on its host (it was %s to the engine).", cur.Name, was)})
	})
}

// HostNotResponding records that a host stopped answering: its running VMs
// become unknown (they may well still run: only the host knows), and stay
// so until the host answers again or the administrator acts.
func (e *Engine) HostNotResponding(ctx context.Context, hostID string) error {
	var vms []model.VM
	err := e.st.View(ctx, func(tx store.Tx) error {
		all, err := tx.ListVMs(ctx, store.ListOptions{})
		for _, vm := range all {
			// A migrating VM is its migration's to settle.
			if vm.HostID == hostID && vm.Status.IsRunning() && vm.Status != model.VMMigrating {
				vms = append(vms, vm)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, vm := range vms {
		if err := e.setStatus(ctx, vm, model.VMUnknown, "VM_SET_TO_UNKNOWN_STATUS",
			fmt.Sprintf("VM %s was set to the Unknown status: its host does not respond.", vm.Name)); err != nil {
			return err
		}
	}
	return nil
}

// GuestDisk is a disk the guest agent reports: its device path and serial.
type GuestDisk struct {
	Name   string
	Serial string
}

// ReportGuestDisks sets each attachment's logical_name from what the guest
// agent reports, matching image disks by the first 20 characters of the
// disk id within the guest's serial, and LUNs by the LUN's own serial. It
// returns how many active disks the guest does not show (yet), so the
// monitor asks again only while that is not zero.
func (e *Engine) ReportGuestDisks(ctx context.Context, vmID string, disks []GuestDisk) (unnamed int, err error) {
	unlock := e.locks.lock(vmID)
	defer unlock()
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		unnamed = 0
		vm, err := tx.GetVM(ctx, vmID)
		if err != nil || vm.Status != model.VMUp {
			return err // a late report about a VM that stopped meanwhile
		}
		rows, err := rowsOfVM(ctx, tx, vmID)
		if err != nil {
			return err
		}
		for a := range rows.attachments() {
			d, ok := rows.disks.Get(a.DiskID)
			if !ok {
				return fmt.Errorf("disk %s of vm %s: %w", a.DiskID, vmID, store.ErrNotFound)
			}
			name := ""
			if a.Active {
				name = logicalName(d, disks)
				if name == "" && nameable(d) {
					unnamed++
				}
			}
			if name == a.LogicalName {
				continue
			}
			a.LogicalName = name
			if err := tx.UpdateAttachment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	return unnamed, err
}

// nameable tells whether the guest's disks can name this disk: an image
// disk carries its id as serial, a pass-through LUN its own serial if the
// engine knows it.
func nameable(d model.Disk) bool {
	return !d.PassThrough() || d.LUN != nil && d.LUN.Serial != ""
}

func logicalName(d model.Disk, disks []GuestDisk) string {
	key := d.ID[:min(len(d.ID), GuestSerialLen)]
	if d.PassThrough() {
		if d.LUN == nil || d.LUN.Serial == "" {
			return ""
		}
		key = d.LUN.Serial
	}
	for _, g := range disks {
		if g.Serial != "" && strings.Contains(g.Serial, key) {
			return g.Name
		}
	}
	return ""
}

// LiveDisk is a disk the running domain has, under its ua-<id> alias.
type LiveDisk struct {
	ID      string
	Address *scsi.DriveAddress
	// TargetDev is the name the domain gives the disk (empty: unknown).
	TargetDev string
}

// LiveReport is what the monitor saw of a running VM's disks.
type LiveReport struct {
	// Live are the disks the domain has.
	Live []LiveDisk
	// Gone are plugged disks the domain has not had for several polls (so a
	// plug in flight is not mistaken for one).
	Gone []string
	// Appeared are attached but unplugged disks the domain has had for
	// several polls (a plug that completed in libvirtd after its interrupted
	// engine call was rolled back).
	Appeared []string
	// Busy are disks with a plug or unplug still in progress on the host
	// (a call an engine that died made): their interrupted changes are
	// settled at a later report, once the host has finished them.
	Busy []string
}

// ReportLiveDisks reconciles a running VM's device rows with the live
// domain: interrupted plugs are settled, gone disks become inactive (as a
// device detached by hand with virsh is), appeared ones active, and a live
// address that differs from the row wins. Each change is recorded as a
// warning event, so the API says what happened.
func (e *Engine) ReportLiveDisks(ctx context.Context, vmID string, r LiveReport) error {
	live, gone := r.Live, r.Gone
	unlock := e.locks.lock(vmID)
	defer unlock()
	return e.st.Tx(ctx, func(tx store.Tx) error {
		s, err := e.loadVM(ctx, tx, vmID, "monitor", apperr.TypeVM)
		if err != nil || s.vm.Status != model.VMUp {
			return err
		}
		present, busy := map[string]bool{}, map[string]bool{}
		for _, l := range live {
			present[l.ID] = true
		}
		for _, id := range r.Busy {
			busy[id] = true
		}
		if err := e.settleInterrupted(ctx, tx, s, present, busy); err != nil {
			return err
		}
		for _, id := range gone {
			if dev, ok := s.device(id); ok && dev.Pending != model.PendingNone {
				continue // a plug or unplug in flight
			}
			if err := e.markUnplugged(ctx, tx, s, id); err != nil {
				return err
			}
		}
		if err := e.adoptAppeared(ctx, tx, s, live, r.Appeared); err != nil {
			return err
		}
		for _, l := range live {
			dev, ok := s.device(l.ID)
			if !ok || !dev.Plugged || l.Address == nil || dev.Address == nil || *dev.Address == *l.Address {
				continue
			}
			old := *dev.Address
			dev.Address = l.Address
			if err := tx.UpdateDevice(ctx, dev); err != nil {
				return err
			}
			if err := e.audit(ctx, tx, model.AuditEvent{Code: "VM_DEVICE_ADDRESS_CHANGED", Severity: "warning", VMID: vmID, DiskID: l.ID,
				Message: fmt.Sprintf("Disk %s of VM %s sits at %v, not %v: the host's address was taken.", s.disk(l.ID).Alias, s.vm.Name, *l.Address, old)}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *Engine) markUnplugged(ctx context.Context, tx store.Tx, s *vmState, id string) error {
	dev, ok := s.device(id)
	a, okA := s.attachment(id)
	if !ok || !okA || !dev.Plugged {
		return nil
	}
	dev.Plugged = false
	a.Active, a.LogicalName = false, ""
	if err := tx.UpdateDevice(ctx, dev); err != nil {
		return err
	}
	if err := tx.UpdateAttachment(ctx, a); err != nil {
		return err
	}
	return e.audit(ctx, tx, model.AuditEvent{Code: "VM_DEVICE_UNPLUGGED_EXTERNALLY", Severity: "warning", VMID: s.vm.ID, DiskID: id,
		Message: fmt.Sprintf("Disk %s was unplugged from VM %s outside govirt; it is now inactive.", s.disk(id).Alias, s.vm.Name)})
}
