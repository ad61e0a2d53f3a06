package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// DefaultShutdownTimeout is how long a guest gets to power itself off before
// it is powered off.
const DefaultShutdownTimeout = 2 * time.Minute

// RunVM starts a VM on an up host of its cluster with the full spec.
func (e *Engine) RunVM(ctx context.Context, id string) (model.VM, error) {
	return e.RunVMOn(ctx, id, nil)
}

// RunVMOn starts a VM on the first of the preferred hosts that is up in its
// cluster (oVirt's placement_policy hosts), or, with none given, on the
// least loaded up host of its cluster.
func (e *Engine) RunVMOn(ctx context.Context, id string, preferred []string) (model.VM, error) {
	const action = apperr.ActionRun
	began := time.Now()
	unlock := e.locks.lock(id)
	var spec vmspec.VM
	var vm model.VM
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, id, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, id, action, apperr.TypeVM)
		if err != nil {
			return err
		}
		if !s.vm.Status.IsDown() {
			return apperr.New(apperr.VMIsRunning, action, apperr.TypeVM)
		}
		for d := range s.rows.attachedDisks() {
			if a, _ := s.attachment(d.ID); a.Active && d.Status == model.DiskLocked {
				return apperr.New(apperr.DiskIsLocked, action, apperr.TypeVM, "diskAlias", d.Alias)
			}
		}
		host, err := e.scheduleVM(ctx, tx, s.vm.ClusterID, preferred)
		if err != nil {
			return err
		}
		domains, err := storageDomainsOf(ctx, tx, s)
		if err != nil {
			return err
		}
		if spec, err = buildSpec(s, domains, ""); err != nil {
			return err
		}
		if err := withPolicies(ctx, tx, s, &spec); err != nil {
			return err
		}
		vm = s.vm
		vm.Status, vm.HostID = model.VMWaitForLaunch, host.ID
		if err := tx.UpdateVM(ctx, vm); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_RUN_VM", VMID: id, HostID: vm.HostID,
			Message: fmt.Sprintf("VM %s was started by %s (Host: %s).", vm.Name, Caller(ctx), host.Name)})
	})
	unlock()
	if err != nil {
		return model.VM{}, err
	}
	specced := time.Now()
	h, err := e.vmHost(ctx, vm)
	if err == nil {
		err = h.StartVM(ctx, spec)
	}
	e.log.Debug("run vm: timings", "vm", id, "disks", len(spec.Disks), "spec", specced.Sub(began).Round(time.Millisecond),
		"host_start", time.Since(specced).Round(time.Millisecond))
	if err != nil {
		_ = e.setStatus(ctx, vm, model.VMDown, "USER_FAILED_RUN_VM", fmt.Sprintf("Failed to run VM %s: %v", vm.Name, err))
		return model.VM{}, apperr.New(apperr.HostCallFailed, action, apperr.TypeVM, "detail", err.Error())
	}
	vm.Status = model.VMUp
	return vm, e.setStatus(ctx, vm, model.VMUp, "", "")
}

// StopVM powers a VM off at once.
func (e *Engine) StopVM(ctx context.Context, id string) (model.VM, error) {
	return e.stop(ctx, id, apperr.ActionStop, func(h Host, vm model.VM) error { return h.DestroyVM(ctx, vm.ID) })
}

// ShutdownVM asks the guest to power off (guest agent, then ACPI) and powers
// it off after timeout (DefaultShutdownTimeout when zero).
func (e *Engine) ShutdownVM(ctx context.Context, id string, timeout time.Duration) (model.VM, error) {
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	return e.stop(ctx, id, apperr.ActionShutdown, func(h Host, vm model.VM) error { return h.ShutdownVM(ctx, vm.ID, timeout) })
}

func (e *Engine) stop(ctx context.Context, id string, action apperr.Action, call func(Host, model.VM) error) (model.VM, error) {
	// Checked and marked under the VM's lock, so that a migration cannot
	// start in between.
	var vm model.VM
	unlock := e.locks.lock(id)
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, id, action); err != nil {
			return err
		}
		cur, err := tx.GetVM(ctx, id)
		if err != nil {
			return mapNotFound(err, action, apperr.TypeVM, id)
		}
		if cur.Status.IsDown() {
			return apperr.New(apperr.VMIsNotRunning, action, apperr.TypeVM)
		}
		if err := refuseWhileMigrating(cur, action, apperr.TypeVM); err != nil {
			return err
		}
		vm = cur
		cur.Status = model.VMPoweringDown
		return tx.UpdateVM(ctx, cur)
	})
	unlock()
	if err != nil {
		return model.VM{}, err
	}
	h, err := e.vmHost(ctx, vm)
	if err == nil {
		err = call(h, vm)
	}
	if err != nil {
		_ = e.setStatus(ctx, vm, vm.Status, "USER_FAILED_STOP_VM", fmt.Sprintf("Failed to stop VM %s: %v", vm.Name, err))
		return model.VM{}, apperr.New(apperr.HostCallFailed, action, apperr.TypeVM, "detail", err.Error())
	}
	vm.Status, vm.HostID = model.VMDown, ""
	msg := fmt.Sprintf("VM %s powered off by %s.", vm.Name, Caller(ctx))
	if action == apperr.ActionShutdown {
		msg = fmt.Sprintf("VM %s shutdown was initiated by %s.", vm.Name, Caller(ctx))
	}
	return vm, e.setStatus(ctx, vm, model.VMDown, "USER_STOP_VM", msg)
}

// setStatus writes a VM's status (and host) under its lock, with an event
// when code is set. Down clears the logical names the guest reported.
func (e *Engine) setStatus(ctx context.Context, vm model.VM, st model.VMStatus, code, msg string) error {
	unlock := e.locks.lock(vm.ID)
	defer unlock()
	return e.st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.LockVM(ctx, vm.ID); err != nil {
			return err
		}
		cur, err := tx.GetVM(ctx, vm.ID)
		if err != nil {
			return err
		}
		cur.Status = st
		if st == model.VMDown {
			cur.HostID = ""
			if err := clearLogicalNames(ctx, tx, vm.ID); err != nil {
				return err
			}
			if err := clearPending(ctx, tx, vm.ID); err != nil {
				return err
			}
		}
		if err := tx.UpdateVM(ctx, cur); err != nil {
			return err
		}
		if code == "" {
			return nil
		}
		sev := "normal"
		switch code {
		case "USER_FAILED_RUN_VM", "USER_FAILED_STOP_VM":
			sev = "error"
		case "VM_SET_TO_UNKNOWN_STATUS":
			sev = "warning"
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: code, Severity: sev, VMID: vm.ID, Message: msg})
	})
}

func clearLogicalNames(ctx context.Context, tx store.Tx, vmID string) error {
	atts, err := tx.ListAttachmentsOfVM(ctx, vmID)
	if err != nil {
		return err
	}
	for _, a := range atts {
		if a.LogicalName != "" {
			a.LogicalName = ""
			if err := tx.UpdateAttachment(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}
