package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// A live migration is two transactions around three host calls, as a
// hot-plug is. The first validates and marks the VM migrating, with its
// destination and this engine process (MigrationRun); then the destination
// agent prepares (LUN proxies, domain XML), the source agent migrates
// through its libvirtd, and the destination is told to keep or drop what it
// prepared; the second transaction records where the VM runs. While the VM
// is migrating, hot-plug, media changes and stopping it are refused, and
// host reports about it are ignored; a migration that another engine
// process left (it crashed) is settled by the hosts' reports instead
// (settleMigration).

// migrateInput is everything the pure migration rules look at, loaded in
// the command's transaction.
type migrateInput struct {
	vm model.VM
	// cluster is the VM's cluster.
	cluster model.Cluster
	// dest is the host asked for; nil lets the scheduler pick.
	dest *model.Host
	// up are the up hosts of the VM's cluster.
	up []model.Host
	// load counts the VMs each host runs.
	load map[string]int
	// reservation is the alias of a plugged disk that uses SCSI
	// reservation, pending of a disk whose plug or unplug waits for the
	// host; empty when none.
	reservation, pending string
	// domains are the storage domains of the VM's volumes.
	domains []model.StorageDomain
}

// migrateRules says where a VM may migrate, or why it may not, in oVirt's
// order: the VM's state first, then what it uses, then the destination.
func migrateRules(in migrateInput) (model.Host, error) {
	const action, typ = apperr.ActionMigrate, apperr.TypeVM
	switch {
	case in.vm.Status.IsDown():
		return model.Host{}, apperr.New(apperr.VMIsNotRunning, action, typ)
	case in.vm.Status != model.VMUp || in.vm.HostID == "":
		return model.Host{}, apperr.New(apperr.VMStatusIllegal, action, typ, "vmStatus", string(in.vm.Status))
	case in.reservation != "":
		return model.Host{}, apperr.New(apperr.VMUsesSCSIReservation, action, typ, "diskAlias", in.reservation)
	case in.pending != "":
		return model.Host{}, apperr.New(apperr.DiskIsLocked, action, typ, "diskAlias", in.pending)
	}
	var dest model.Host
	if in.dest != nil {
		dest = *in.dest
		switch {
		case dest.ID == in.vm.HostID:
			return model.Host{}, apperr.New(apperr.MigrationToSameHost, action, typ)
		case dest.ClusterID != in.vm.ClusterID:
			return model.Host{}, apperr.New(apperr.MigrateBetweenClusters, action, typ)
		case dest.Status != model.HostUp:
			return model.Host{}, apperr.New(apperr.HostStatusIllegal, action, typ, "hostStatus", string(model.HostUp))
		}
	} else {
		var others []model.Host
		for _, h := range in.up {
			if h.ID != in.vm.HostID && h.ClusterID == in.vm.ClusterID {
				others = append(others, h)
			}
		}
		h, ok := pickHost(others, nil, in.load)
		if !ok {
			return model.Host{}, apperr.New(apperr.MigrationNoDestination, action, typ)
		}
		dest = h
	}
	for _, sd := range in.domains {
		if sd.DataCenterID != in.cluster.DataCenterID {
			return model.Host{}, apperr.New(apperr.MigrationStorageNotShared, action, typ, "host", dest.Name,
				"detail", fmt.Sprintf("storage domain %s belongs to another data center", sd.Name))
		}
	}
	return dest, nil
}

// usesReservation returns the alias of a plugged disk of the VM that uses
// SCSI reservation: its reservation lives in the source host's initiator,
// so the VM cannot move (oVirt's rule).
func usesReservation(s *vmState) string {
	for a := range s.rows.attachments() {
		if d := s.disk(a.DiskID); a.Active && a.UsesSCSIReservation && d.PassThrough() {
			return d.Alias
		}
	}
	return ""
}

// pendingDisk returns the alias of a disk whose plug or unplug waits for
// the host.
func pendingDisk(s *vmState) string {
	for d := range s.rows.devices() {
		if d.Type == model.DeviceTypeDisk && d.Pending != model.PendingNone {
			return s.disk(d.ID).Alias
		}
	}
	return ""
}

// refuseWhileMigrating is the fault for a change to a VM that is migrating:
// its domain is moving between hosts, so no host may change it.
func refuseWhileMigrating(vm model.VM, action apperr.Action, typ apperr.Type) error {
	if vm.Status == model.VMMigrating {
		return apperr.New(apperr.VMStatusIllegal, action, typ, "vmStatus", string(vm.Status))
	}
	return nil
}

// migration is a migration marked in the database and waiting for hosts.
type migration struct {
	vm       model.VM
	src, dst model.Host
	spec     vmspec.VM
	started  time.Time
}

// MigrateVM live-migrates a running VM to host destID or, with destID
// empty, to the least loaded other up host of its cluster. It returns the
// VM as it runs afterwards: up on the destination, or, when the hosts
// failed, up on its source with the reason as the error.
func (e *Engine) MigrateVM(ctx context.Context, id, destID string) (model.VM, error) {
	m, err := e.beginMigration(ctx, id, destID)
	if err != nil {
		return model.VM{}, err
	}
	// Once libvirt is asked, a caller that goes away must not cut the
	// engine's record of the outcome short.
	ctx = context.WithoutCancel(ctx)
	src, err := e.hosts.Host(ctx, m.src.ID)
	if err != nil {
		return e.endMigration(ctx, m, false, err)
	}
	dst, err := e.hosts.Host(ctx, m.dst.ID)
	if err != nil {
		return e.endMigration(ctx, m, false, err)
	}
	target, err := dst.PrepareMigration(ctx, m.spec)
	if err != nil {
		return e.endMigration(ctx, m, false, err)
	}
	err = src.MigrateVM(ctx, id, target)
	if errors.Is(err, agent.ErrHostUnreachable) {
		// The source may have finished: the hosts' reports settle it.
		return model.VM{}, e.migrationInDoubt(ctx, m, err)
	}
	if ferr := dst.FinishIncoming(ctx, id, err == nil); ferr != nil {
		e.log.Warn("destination did not finish the incoming migration", "vm", id, "host", m.dst.Name, "ok", err == nil, "err", ferr)
	}
	return e.endMigration(ctx, m, err == nil, err)
}

// beginMigration validates the migration and marks the VM migrating.
func (e *Engine) beginMigration(ctx context.Context, id, destID string) (migration, error) {
	const action = apperr.ActionMigrate
	unlock := e.locks.lock(id)
	defer unlock()
	var m migration
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, id, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, id, action, apperr.TypeVM)
		if err != nil {
			return err
		}
		in := migrateInput{vm: s.vm, cluster: s.cluster, reservation: usesReservation(s), pending: pendingDisk(s)}
		if destID != "" {
			h, err := tx.GetHost(ctx, destID)
			if err != nil {
				return mapNotFound(err, action, apperr.TypeHost, destID)
			}
			in.dest = &h
		}
		if in.up, err = upHosts(ctx, tx, func(c model.Cluster) bool { return c.ID == s.vm.ClusterID }); err != nil {
			return err
		}
		if in.load, err = hostLoad(ctx, tx); err != nil {
			return err
		}
		domains, err := storageDomainsOf(ctx, tx, s)
		if err != nil {
			return err
		}
		for _, sd := range domains {
			in.domains = append(in.domains, sd)
		}
		if e.hosts == nil {
			return apperr.New(apperr.MigrationNoDestination, action, apperr.TypeVM)
		}
		if m.dst, err = migrateRules(in); err != nil {
			return err
		}
		if m.src, err = tx.GetHost(ctx, s.vm.HostID); err != nil {
			return fmt.Errorf("source host of vm %s: %w", s.vm.Name, err)
		}
		if m.spec, err = buildSpec(s, domains, ""); err != nil {
			return err
		}
		if err := withPolicies(ctx, tx, s, &m.spec); err != nil {
			return err
		}
		m.vm, m.started = s.vm, e.now()
		m.vm.Status, m.vm.MigratingTo, m.vm.MigrationRun = model.VMMigrating, m.dst.ID, e.runID
		if err := tx.UpdateVM(ctx, m.vm); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "VM_MIGRATION_START", VMID: id, HostID: m.src.ID,
			Message: fmt.Sprintf("Migration started (VM: %s, Source: %s, Destination: %s, User: %s).", s.vm.Name, m.src.Name, m.dst.Name, Caller(ctx))})
	})
	return m, err
}

// endMigration records the outcome: the VM up on the destination (ok) or
// still up on its source, with the hosts' error as the user's fault.
func (e *Engine) endMigration(ctx context.Context, m migration, ok bool, hostErr error) (model.VM, error) {
	unlock := e.locks.lock(m.vm.ID)
	defer unlock()
	var vm model.VM
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetVM(ctx, m.vm.ID)
		if err != nil {
			return err
		}
		cur.Status, cur.MigratingTo, cur.MigrationRun = model.VMUp, "", ""
		ev := model.AuditEvent{Code: "VM_MIGRATION_DONE", VMID: cur.ID, HostID: m.dst.ID,
			Message: fmt.Sprintf("Migration completed (VM: %s, Source: %s, Destination: %s, Duration: %s).",
				cur.Name, m.src.Name, m.dst.Name, e.now().Sub(m.started).Round(time.Millisecond))}
		if ok {
			cur.HostID = m.dst.ID
		} else {
			cur.HostID = m.src.ID
			ev = model.AuditEvent{Code: "VM_MIGRATION_FAILED", Severity: "error", VMID: cur.ID, HostID: m.src.ID,
				Message: fmt.Sprintf("Migration failed (VM: %s, Source: %s, Destination: %s): %v. The VM keeps running on %s.",
					cur.Name, m.src.Name, m.dst.Name, hostErr, m.src.Name)}
		}
		if err := tx.UpdateVM(ctx, cur); err != nil {
			return err
		}
		vm = cur
		return e.audit(ctx, tx, ev)
	})
	if err != nil {
		return model.VM{}, err
	}
	if ok {
		e.migrated.add(vm.ID, m.src.ID)
		return vm, nil
	}
	if errors.Is(hostErr, agent.ErrStorageNotShared) {
		return vm, apperr.New(apperr.MigrationStorageNotShared, apperr.ActionMigrate, apperr.TypeVM, "host", m.dst.Name, "detail", hostErr.Error())
	}
	return vm, apperr.New(apperr.HostCallFailed, apperr.ActionMigrate, apperr.TypeVM, "detail", hostErr.Error())
}

// migrationInDoubt hands a migration whose source did not answer to the
// hosts' reports (settleMigration), and tells the caller so.
func (e *Engine) migrationInDoubt(ctx context.Context, m migration, hostErr error) error {
	unlock := e.locks.lock(m.vm.ID)
	defer unlock()
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetVM(ctx, m.vm.ID)
		if err != nil {
			return err
		}
		cur.MigrationRun = "" // no longer this process's: the reports settle it
		if err := tx.UpdateVM(ctx, cur); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "VM_MIGRATION_IN_DOUBT", Severity: "warning", VMID: cur.ID, HostID: m.src.ID,
			Message: fmt.Sprintf("Host %s did not answer the migration of VM %s to %s; the hosts' next reports say where it runs.", m.src.Name, cur.Name, m.dst.Name)})
	})
	if err != nil {
		return err
	}
	return apperr.New(apperr.HostCallFailed, apperr.ActionMigrate, apperr.TypeVM, "detail",
		fmt.Sprintf("%v; the hosts' next reports say where the VM runs", hostErr))
}
