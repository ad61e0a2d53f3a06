package engine

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// CrowdedControllerDisks is how many disks one virtio-SCSI controller may
// carry before the engine warns. QEMU (7.2) finds the device of every SCSI
// command by walking its controller's device list, so each command costs
// time in proportion to the disks on that controller: with 16,383 disks on
// one controller QEMU's main thread spent 2.5-5 ms a command and the guest
// took 27 minutes to probe its disks (bench/ANALYSIS.md, session 7).
// MaxIOThreads controllers of 1,024 disks hold a full VM.
const CrowdedControllerDisks = 1024

// CodeControllerCrowded is the audit code of that warning.
const CodeControllerCrowded = "VM_VIRTIO_SCSI_CONTROLLER_CROWDED"

// warnIfCrowded records a warning when the plug of dev has just made its
// controller carry one disk more than CrowdedControllerDisks (e.crowdedAt): once per
// crossing, so an admin attaching thousands of disks sees it once, with
// the I/O-thread count that would spread them.
func (e *Engine) warnIfCrowded(ctx context.Context, tx store.Tx, s *vmState, dev model.VmDevice) error {
	ev, ok, err := crowdingEvent(s, dev, e.crowdedAt)
	if err != nil || !ok {
		return err
	}
	return e.audit(ctx, tx, ev)
}

// crowdingEvent is warnIfCrowded's decision for a warning past limit disks.
func crowdingEvent(s *vmState, dev model.VmDevice, limit int) (model.AuditEvent, bool, error) {
	if !dev.Plugged || dev.Address == nil {
		return model.AuditEvent{}, false, nil
	}
	alloc, err := s.allocator()
	if err != nil {
		return model.AuditEvent{}, false, err
	}
	c := dev.Address.Controller
	n := alloc.PluggedOn(c)
	if n != limit+1 {
		return model.AuditEvent{}, false, nil
	}
	advice := fmt.Sprintf("Give the VM %d I/O threads (one controller each, enough for %d disks at %d a controller) while it is down: "+
		"new disks then fill the new controllers first, and disks already attached keep their addresses.",
		MaxIOThreads, min(MaxIOThreads*limit-1, scsi.MaxDisksPerVM), limit)
	if s.vm.IOThreads >= MaxIOThreads {
		advice = "The VM already has the most I/O threads (controllers) govirt gives a VM."
	}
	return model.AuditEvent{Code: CodeControllerCrowded, Severity: "warning", VMID: s.vm.ID, DiskID: dev.ID,
		Message: fmt.Sprintf("VirtIO-SCSI controller %d of VM %s now carries %d disks. QEMU walks a controller's disks on every SCSI command, "+
			"so past %d disks on one controller the guest's disk I/O and boot-time disk probe slow down. %s",
			c, s.vm.Name, n, limit, advice)}, true, nil
}
