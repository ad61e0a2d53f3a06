package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// A live migration between two agents: the engine asks the destination to
// PrepareMigration (it starts the proxies of the VM's policy-carrying LUNs
// on its side and renders the domain as it will run there), hands the
// result to the source's MigrateVM (a peer-to-peer migration through the
// source's libvirtd, which stops the source's proxies once the domain left),
// and tells the destination to FinishIncoming: keep the VM, or undo what it
// prepared.

// PrepareMigration readies this host for an incoming live migration of vm.
func (a *Agent) PrepareMigration(ctx context.Context, vm vmspec.VM) (MigrationTarget, error) {
	if a.cfg.MigrationURI == "" {
		return MigrationTarget{}, ErrNoMigrationURI
	}
	if vm.VirtType == "" {
		vm.VirtType = a.cfg.VirtType
	}
	if err := vm.Validate(); err != nil {
		return MigrationTarget{}, err
	}
	if _, err := a.owned(ctx, vm.ID); err == nil {
		return MigrationTarget{}, fmt.Errorf("%w: %s", ErrAlreadyRunning, vm.Name)
	}
	if err := volumesReachable(vm); err != nil {
		return MigrationTarget{}, err
	}
	pvm, err := a.proxiedVM(ctx, vm)
	if err != nil {
		return MigrationTarget{}, err
	}
	xml, err := domxml.Marshal(pvm, a.xmlOptions(vm.ID))
	if err != nil {
		a.stopLUNProxies(vm.ID)
		return MigrationTarget{}, err
	}
	if err := os.Remove(a.ConsolePath(vm.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.stopLUNProxies(vm.ID)
		return MigrationTarget{}, fmt.Errorf("reset console log: %w", err)
	}
	a.incoming.add(vm.ID)
	a.mine.add(vm.ID)
	a.ctls.set(vm.ID, specControllers(vm))
	a.log.Info("incoming migration prepared", "vm", vm.ID, "name", vm.Name)
	return MigrationTarget{URI: a.cfg.MigrationURI, DomainXML: xml}, nil
}

// volumesReachable checks that this host sees every image volume of vm at
// the path the source uses: storage domains are shared, and a host that
// does not mount one would fail the migration halfway.
func volumesReachable(vm vmspec.VM) error {
	for _, d := range vm.Disks {
		if d.File == nil || d.File.VolumeID == "" {
			continue
		}
		p := filepath.Join(d.File.DomainDir, d.File.VolumeID)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: disk %s: %v", ErrStorageNotShared, d.ID, err)
		}
	}
	return nil
}

// MigrateVM live-migrates a VM of this agent to a prepared destination and
// stops this host's proxies of its LUNs once it runs there.
func (a *Agent) MigrateVM(ctx context.Context, vmID string, to MigrationTarget) error {
	if _, err := a.owned(ctx, vmID); err != nil {
		return err
	}
	live, err := a.hv.DomainXML(ctx, vmID)
	if err != nil {
		return err
	}
	// Hot-plugged devices sit where libvirt put them when they were plugged.
	destXML, err := domxml.ForMigration(to.DomainXML, live)
	if err != nil {
		return fmt.Errorf("%w: vm %s: %v", ErrMigrationFailed, vmID, err)
	}
	if err := a.hv.Migrate(ctx, vmID, to.URI, destXML, a.cfg.MigrationTrustStorage); err != nil {
		return fmt.Errorf("%w: vm %s to %s: %v", ErrMigrationFailed, vmID, to.URI, err)
	}
	a.stopLUNProxies(vmID)
	a.mine.remove(vmID)
	a.ctls.set(vmID, nil) // should it come back, its controllers are read again
	a.log.Info("vm migrated away", "vm", vmID, "to", to.URI)
	return nil
}

// FinishIncoming ends an incoming migration. ok: the VM runs here now and
// its proxies stop with it; otherwise the domain, if libvirt left one, and
// the proxies PrepareMigration started are removed.
func (a *Agent) FinishIncoming(ctx context.Context, vmID string, ok bool) error {
	prepared := a.incoming.remove(vmID)
	_, err := a.owned(ctx, vmID)
	running := err == nil
	if ok {
		if !running {
			return err
		}
		a.watchVM(vmID)
		a.log.Info("incoming migration finished", "vm", vmID)
		return nil
	}
	if running && !prepared {
		// Not a migration this agent prepared (or one from before it
		// restarted) and the VM runs here: it is not this call's to stop.
		a.log.Warn("incoming migration to drop, but the VM runs here unprepared; left alone", "vm", vmID)
		return nil
	}
	if running {
		if err := a.hv.Destroy(ctx, vmID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	a.stopLUNProxies(vmID)
	a.mine.remove(vmID)
	a.log.Info("incoming migration dropped", "vm", vmID)
	return nil
}
