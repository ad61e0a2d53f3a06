package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/model"
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
		atts, err := tx.ListAttachmentsOfVM(ctx, vmID)
		if err != nil {
			return err
		}
		for _, a := range atts {
			d, err := tx.GetDisk(ctx, a.DiskID)
			if err != nil {
				return err
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
