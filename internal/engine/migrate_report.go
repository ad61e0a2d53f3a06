package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// migrationMemory is what the engine remembers of migrations between host
// reports. The zero value is ready.
type migrationMemory struct {
	mu sync.Mutex
	// from maps a VM that just migrated to its source host, whose list of
	// VMs, taken before the migration ended, may still show it: such a
	// stale list must not move the VM back.
	from map[string]string
	// seen records, for a migration another engine process left, whether
	// each of its two hosts listed the VM in its latest report.
	seen map[string]map[string]bool
}

// add remembers that vmID just left src.
func (m *migrationMemory) add(vmID, src string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.from == nil {
		m.from = map[string]string{}
	}
	m.from[vmID] = src
}

// stale tells whether host's listing of vmID is a list from before the VM
// migrated away from it; the first list without the VM ends that.
func (m *migrationMemory) stale(vmID, host string, listed bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.from[vmID] != host {
		return false
	}
	if listed {
		return true
	}
	delete(m.from, vmID)
	return false
}

// sight records whether host listed vmID and returns what the VM's source
// and destination said last; known is false until both reported.
func (m *migrationMemory) sight(vm model.VM, host string, listed bool) (onSrc, onDst, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]map[string]bool{}
	}
	s := m.seen[vm.ID]
	if s == nil {
		s = map[string]bool{}
		m.seen[vm.ID] = s
	}
	s[host] = listed
	onSrc, srcKnown := s[vm.HostID]
	onDst, dstKnown := s[vm.MigratingTo]
	return onSrc, onDst, srcKnown && dstKnown
}

func (m *migrationMemory) forget(vmID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, vmID)
}

// migrationOutcome is where an interrupted migration left the VM, by which
// of its hosts runs it: the destination alone means it completed, the
// source alone that it failed, neither that the VM went down, both that
// libvirt is still migrating it (wait).
type migrationOutcome int

const (
	migrationWait migrationOutcome = iota
	migrationCompleted
	migrationFailed
	migrationVMDown
)

func settleOutcome(onSrc, onDst bool) migrationOutcome {
	switch {
	case onDst && !onSrc:
		return migrationCompleted
	case onSrc && !onDst:
		return migrationFailed
	case !onSrc && !onDst:
		return migrationVMDown
	}
	return migrationWait
}

// interruptedMigration handles one host's report about a VM whose
// migration another engine process started and left: once both hosts
// reported, the VM is recorded where it runs.
func (e *Engine) interruptedMigration(ctx context.Context, vm model.VM, hostID string, listed bool) error {
	onSrc, onDst, known := e.migrated.sight(vm, hostID, listed)
	if !known {
		return nil
	}
	out := settleOutcome(onSrc, onDst)
	if out == migrationWait {
		return nil
	}
	e.migrated.forget(vm.ID)
	return e.settleMigration(ctx, vm.ID, out)
}

// settleMigration records the outcome of an interrupted migration, unless
// the VM changed meanwhile, and tells the destination to keep the VM or
// drop what it prepared.
func (e *Engine) settleMigration(ctx context.Context, vmID string, out migrationOutcome) error {
	unlock := e.locks.lock(vmID)
	defer unlock()
	var dest string
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetVM(ctx, vmID)
		if err != nil || cur.Status != model.VMMigrating || cur.MigrationRun == e.runID {
			return err
		}
		src, dst := cur.HostID, cur.MigratingTo
		dest = dst
		ev := model.AuditEvent{VMID: vmID, Severity: "warning"}
		switch out {
		case migrationCompleted:
			cur.Status, cur.HostID = model.VMUp, dst
			ev.Code, ev.HostID = "VM_MIGRATION_DONE", dst
			ev.Message = fmt.Sprintf("The interrupted migration of VM %s completed: it runs on its destination.", cur.Name)
		case migrationFailed:
			cur.Status = model.VMUp
			ev.Code, ev.HostID = "VM_MIGRATION_FAILED", src
			ev.Message = fmt.Sprintf("The interrupted migration of VM %s did not complete: it runs on its source.", cur.Name)
		default:
			cur.Status, cur.HostID = model.VMDown, ""
			ev.Code = "VM_DOWN"
			ev.Message = fmt.Sprintf("VM %s is down: neither host of its interrupted migration runs it.", cur.Name)
			if err := clearLogicalNames(ctx, tx, vmID); err != nil {
				return err
			}
			if err := clearPending(ctx, tx, vmID); err != nil {
				return err
			}
		}
		cur.MigratingTo, cur.MigrationRun = "", ""
		if err := tx.UpdateVM(ctx, cur); err != nil {
			return err
		}
		return e.audit(ctx, tx, ev)
	})
	if err != nil || dest == "" {
		return err
	}
	ok := out == migrationCompleted
	if h, herr := e.hosts.Host(ctx, dest); herr == nil {
		if herr := h.FinishIncoming(ctx, vmID, ok); herr != nil {
			e.log.Warn("destination of an interrupted migration did not finish it", "vm", vmID, "ok", ok, "err", herr)
		}
	}
	return nil
}
