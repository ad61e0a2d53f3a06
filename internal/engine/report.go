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

// ReportRunning records which VMs a host really runs: a VM the engine
// believes is up there but the host does not have went down (the guest
// powered itself off, or crashed).
func (e *Engine) ReportRunning(ctx context.Context, hostID string, running map[string]bool) error {
	var gone []model.VM
	err := e.st.View(ctx, func(tx store.Tx) error {
		vms, err := tx.ListVMs(ctx, store.ListOptions{})
		for _, vm := range vms {
			if vm.HostID == hostID && vm.Status.IsRunning() && vm.Status != model.VMWaitForLaunch && !running[vm.ID] {
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
	return nil
}

// GuestDisk is a disk the guest agent reports: its device path and serial.
type GuestDisk struct {
	Name   string
	Serial string
}

// ReportGuestDisks sets each attachment's logical_name from what the guest
// agent reports, matching image disks by the first 20 characters of the
// disk id within the guest's serial, and LUNs by the LUN's own serial.
func (e *Engine) ReportGuestDisks(ctx context.Context, vmID string, disks []GuestDisk) error {
	unlock := e.locks.lock(vmID)
	defer unlock()
	return e.st.Tx(ctx, func(tx store.Tx) error {
		vm, err := tx.GetVM(ctx, vmID)
		if err != nil || vm.Status != model.VMUp {
			return err // a late report about a VM that stopped meanwhile
		}
		atts, err := tx.ListAttachmentsOfVM(ctx, vmID)
		if err != nil {
			return err
		}
		byID, err := disksOfVM(ctx, tx, vmID)
		if err != nil {
			return err
		}
		for _, a := range atts {
			d, ok := byID[a.DiskID]
			if !ok {
				return fmt.Errorf("disk %s of vm %s: %w", a.DiskID, vmID, store.ErrNotFound)
			}
			name := ""
			if a.Active {
				name = logicalName(d, disks)
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
}

// ReportLiveDisks reconciles a running VM's device rows with the live
// domain. gone lists plugged disks the domain no longer has (the monitor
// reports a disk only after it missed several polls, so a plug in flight is
// not mistaken for it): they become inactive, as a device detached by hand
// with virsh is. A live address that differs from the row wins. Each change
// is recorded as a warning event, so the API says what happened.
func (e *Engine) ReportLiveDisks(ctx context.Context, vmID string, live []LiveDisk, gone []string) error {
	unlock := e.locks.lock(vmID)
	defer unlock()
	return e.st.Tx(ctx, func(tx store.Tx) error {
		s, err := e.loadVM(ctx, tx, vmID, "monitor", apperr.TypeVM)
		if err != nil || s.vm.Status != model.VMUp {
			return err
		}
		for _, id := range gone {
			if err := e.markUnplugged(ctx, tx, s, id); err != nil {
				return err
			}
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
				Message: fmt.Sprintf("Disk %s of VM %s sits at %v, not %v: the host's address was taken.", s.disks[l.ID].Alias, s.vm.Name, *l.Address, old)}); err != nil {
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
		Message: fmt.Sprintf("Disk %s was unplugged from VM %s outside govirt; it is now inactive.", s.disks[id].Alias, s.vm.Name)})
}
