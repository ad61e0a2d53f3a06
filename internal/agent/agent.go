package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/govirt/govirt/internal/iscsi/guard"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// Config is one agent's identity and local settings.
type Config struct {
	// HostID is the engine's id for this host. The agent tags the domains it
	// starts with it and ignores all others, so several agents can share one
	// libvirtd.
	HostID string
	// VirtType is used when a spec leaves it empty: kvm on real hosts, qemu
	// (TCG) where hardware virtualization is missing or unusable.
	VirtType vmspec.VirtType
	// StateDir holds the agent's files, such as serial console logs.
	StateDir string
	// UnplugTimeout bounds hot-unplug when the caller gives no timeout.
	UnplugTimeout time.Duration
	// MigrationURI is the libvirt URI through which other hosts' libvirtd
	// reach this host's (qemu+tls://HOST/system on real hosts). Empty: the
	// host takes no incoming migrations.
	MigrationURI string
	// MigrationTrustStorage makes outgoing migrations pass libvirt's
	// VIR_MIGRATE_UNSAFE: libvirt refuses to migrate disks (cache none) on
	// a filesystem it does not recognise as shared, such as one hosts share
	// by other means or the single filesystem of a test machine. The
	// destination still checks that it sees every volume at its path.
	MigrationTrustStorage bool
	// ArgBytes is the kernel's limit on the arguments of the QEMU processes
	// libvirtd runs, which decides when a start is staged (staged.go).
	// Zero: read from libvirtd's stack rlimit at each start.
	ArgBytes int
	// MaxColdDisks, when positive, stages any start with more virtio-SCSI
	// disks than this, whatever their size: tests use it to prove the
	// staged path with a few disks. Zero: decided by ArgBytes alone.
	MaxColdDisks int
	// LUNEnforcer says how pass-through iSCSI LUNs with a SCSI command
	// policy are guarded: EnforceGuard or EnforceProxy (also when empty).
	LUNEnforcer string
	// GuardPorts are the lowest and highest front port of the guards
	// (zero: 20000-29999).
	GuardPorts [2]uint16
}

// Agent runs VMs on one host. It is safe for concurrent use.
type Agent struct {
	cfg     Config
	hv      Hypervisor
	log     *slog.Logger
	mine    ownedSet
	proxies lunProxies
	ctls    controllerSet
	// incoming are the VMs prepared for an incoming migration, not yet
	// finished (migrate.go).
	incoming ownedSet
	staging  ownedSet // VMs created paused whose disks are still being attached
	busy     busySet  // disks being plugged or unplugged
	// kernelGuard is the kernel half of the guards (nil: the guards
	// enforce in the queue alone).
	kernelGuard guard.Kernel
}

// New returns an agent driving hv.
func New(cfg Config, hv Hypervisor, log *slog.Logger) (*Agent, error) {
	if cfg.HostID == "" {
		return nil, errors.New("agent: host id is required")
	}
	if cfg.VirtType == "" {
		cfg.VirtType = vmspec.VirtKVM
	}
	if cfg.StateDir == "" {
		return nil, errors.New("agent: state dir is required")
	}
	if cfg.UnplugTimeout == 0 {
		cfg.UnplugTimeout = DefaultUnplugTimeout
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "console"), 0o755); err != nil {
		return nil, fmt.Errorf("agent: state dir: %w", err)
	}
	switch cfg.LUNEnforcer {
	case "", EnforceProxy, EnforceGuard:
	default:
		return nil, fmt.Errorf("agent: unknown LUN enforcer %q (want %s or %s)", cfg.LUNEnforcer, EnforceGuard, EnforceProxy)
	}
	a := &Agent{cfg: cfg, hv: hv, log: log}
	if cfg.LUNEnforcer == EnforceGuard {
		a.kernelGuard = openKernelGuard(log)
	}
	a.restoreLUNProxies()
	if cfg.LUNEnforcer == EnforceGuard {
		a.removeStaleGuards()
		a.proxies.stop = make(chan struct{})
		go a.reconcileGuards(a.proxies.stop)
	}
	return a, nil
}

// HostID is the id this agent tags its domains with.
func (a *Agent) HostID() string { return a.cfg.HostID }

// ConsolePath is where the serial console of a VM is written.
func (a *Agent) ConsolePath(vmID string) string {
	return filepath.Join(a.cfg.StateDir, "console", vmID+".log")
}

func (a *Agent) xmlOptions(vmID string) domxml.Options {
	return domxml.Options{HostID: a.cfg.HostID, ConsolePath: a.ConsolePath(vmID)}
}

// StartVM starts vm as a transient domain: the engine, not libvirt, keeps
// the definition.
func (a *Agent) StartVM(ctx context.Context, vm vmspec.VM) error {
	began := time.Now()
	if vm.VirtType == "" {
		vm.VirtType = a.cfg.VirtType
	}
	if n, max := vm.PCIDevices(), vm.PCISlots(); n > max {
		// libvirt would add a pci-bridge on its own; govirt keeps bus 0 exact.
		return fmt.Errorf("%w: vm %s needs %d PCI slots, its machine type has %d", ErrPCISlotsExhausted, vm.Name, n, max)
	}
	if _, err := a.owned(ctx, vm.ID); err == nil {
		return fmt.Errorf("%w: %s", ErrAlreadyRunning, vm.Name)
	}
	if err := vm.Validate(); err != nil {
		return err
	}
	vm, err := a.proxiedVM(ctx, vm)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			a.stopLUNProxies(vm.ID)
		}
	}()
	lim := a.startLimits()
	for attempt := 1; ; attempt++ {
		cold, staged := splitStart(vm, lim)
		err := a.createStarting(ctx, vm, cold, staged)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrArgListTooLong) || attempt == argRetries {
			return err
		}
		// The estimate was short of the truth on this host (a long
		// environment, say): try again with fewer disks in the domain.
		tried := vmspec.VM{Name: vm.Name, Boot: vm.Boot, Disks: cold}
		lim = shrinkLimits(lim, tried)
		a.log.Warn("QEMU's argument list was too long: starting again with fewer disks in the domain", "vm", vm.ID,
			"cold", len(cold), "arg_estimate", vmArgBytes(tried), "arg_bytes", lim.ArgBytes)
	}
	started = true
	a.ctls.set(vm.ID, specControllers(vm))
	a.watchVM(vm.ID)
	a.log.Debug("start vm: timings", "vm", vm.ID, "prepare", time.Since(began).Round(time.Millisecond))
	return nil
}

// argRetries is how many times a start is tried when QEMU's argument list
// turns out too long for the kernel.
const argRetries = 3

// createStarting creates vm's domain with its cold disks and, when some
// are staged, attaches them before letting it run.
func (a *Agent) createStarting(ctx context.Context, vm vmspec.VM, cold, staged []vmspec.Disk) error {
	first := vm
	first.Disks = cold
	xml, err := domxml.Marshal(first, a.xmlOptions(vm.ID))
	if err != nil {
		return err
	}
	if err := os.Remove(a.ConsolePath(vm.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reset console log: %w", err)
	}
	a.mine.add(vm.ID)
	created := time.Now()
	if len(staged) == 0 {
		if err := a.hv.CreateDomain(ctx, xml, false); err != nil {
			return fmt.Errorf("start vm %s: %w", vm.Name, err)
		}
	} else if err := a.startStaged(ctx, vm, xml, staged); err != nil {
		return err
	}
	a.log.Info("vm started", "vm", vm.ID, "name", vm.Name, "disks", len(vm.Disks), "staged", len(staged),
		"arg_estimate", vmArgBytes(first))
	a.log.Debug("start vm: create", "vm", vm.ID, "create", time.Since(created).Round(time.Millisecond), "xml_bytes", len(xml))
	return nil
}

// startStaged creates the domain paused with the disks in its XML,
// attaches the staged ones and lets it run. Until it runs, LiveVM refuses
// to describe it (ErrStarting), so that nobody takes the disks not yet
// attached for unplugged ones. On any failure the domain is destroyed: a
// VM runs with all its disks or not at all.
func (a *Agent) startStaged(ctx context.Context, vm vmspec.VM, xml string, staged []vmspec.Disk) (err error) {
	a.staging.add(vm.ID)
	defer a.staging.remove(vm.ID)
	began := time.Now()
	if err := a.hv.CreateDomain(ctx, xml, true); err != nil {
		return fmt.Errorf("start vm %s (paused, %d disks to attach): %w", vm.Name, len(staged), err)
	}
	defer func() {
		if err == nil {
			return
		}
		// The caller's context may be what failed: the cleanup gets its own.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := a.hv.Destroy(dctx, vm.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
			a.log.Error("destroying a VM whose staged start failed", "vm", vm.ID, "err", derr)
		}
	}()
	opts := a.xmlOptions(vm.ID)
	lap := time.Now()
	for i, d := range staged {
		x, err := domxml.DiskXML(d, opts)
		if err != nil {
			return fmt.Errorf("start vm %s: disk %s: %w", vm.Name, d.ID, err)
		}
		if err := a.hv.AttachDevice(ctx, vm.ID, x); err != nil {
			return fmt.Errorf("start vm %s: attach disk %s (%d of %d staged): %w", vm.Name, d.ID, i+1, len(staged), err)
		}
		if n := i + 1; n%stageLogEvery == 0 {
			// libvirt's cost per attach grows with the domain (it saves the
			// whole status XML each time): the log shows by how much.
			a.log.Info("staged start: disks attached", "vm", vm.ID, "attached", n, "of", len(staged),
				"domain_disks", len(vm.Disks)-len(staged)+n, "per_attach", (time.Since(lap) / stageLogEvery).Round(time.Millisecond))
			lap = time.Now()
		}
	}
	attached := time.Since(began)
	if err := a.hv.Resume(ctx, vm.ID); err != nil {
		return fmt.Errorf("start vm %s: resume after attaching %d disks: %w", vm.Name, len(staged), err)
	}
	a.log.Info("vm started in stages", "vm", vm.ID, "cold", len(vm.Disks)-len(staged), "attached", len(staged),
		"took", attached.Round(time.Millisecond))
	return nil
}

// stageLogEvery is how many staged attaches go between progress lines.
const stageLogEvery = 500

// startLimits are this host's limits for splitting a start.
func (a *Agent) startLimits() startLimits {
	lim := startLimits{ArgBytes: a.cfg.ArgBytes, MaxColdDisks: a.cfg.MaxColdDisks}
	if lim.ArgBytes <= 0 {
		lim.ArgBytes = hostArgBytes()
	}
	return lim
}

// proxiedVM starts the proxies of the VM's LUN disks with a SCSI command
// policy and returns the VM with those disks pointing at them.
func (a *Agent) proxiedVM(ctx context.Context, vm vmspec.VM) (vmspec.VM, error) {
	disks := make([]vmspec.Disk, len(vm.Disks))
	for i, d := range vm.Disks {
		pd, _, err := a.proxied(ctx, vm.ID, d)
		if err != nil {
			a.stopLUNProxies(vm.ID)
			return vm, err
		}
		disks[i] = pd
	}
	vm.Disks = disks
	return vm, nil
}

// owned returns the domain if it runs and belongs to this agent.
func (a *Agent) owned(ctx context.Context, id string) (domxml.Live, error) {
	x, err := a.hv.DomainXML(ctx, id)
	if err != nil {
		return domxml.Live{}, err
	}
	live, err := domxml.ParseLive(x)
	if err != nil {
		return domxml.Live{}, err
	}
	if live.HostID != a.cfg.HostID {
		return domxml.Live{}, fmt.Errorf("%w: %s belongs to host %q", ErrNotFound, id, live.HostID)
	}
	return live, nil
}

// checkOwned is owned for callers that need only to know the domain runs
// here and is this agent's: it reads govirt's metadata, not the domain XML,
// which for a VM with thousands of disks is megabytes to format and parse.
func (a *Agent) checkOwned(ctx context.Context, id string) error {
	host, err := a.hv.DomainOwner(ctx, id)
	if err != nil {
		return err
	}
	if host != a.cfg.HostID {
		return fmt.Errorf("%w: %s belongs to host %q", ErrNotFound, id, host)
	}
	return nil
}

// ListVMs returns the VMs this agent owns.
func (a *Agent) ListVMs(ctx context.Context) ([]VMStatus, error) {
	doms, err := a.hv.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var out []VMStatus
	for _, d := range doms {
		if d.HostID == a.cfg.HostID {
			out = append(out, VMStatus{ID: d.UUID, Name: d.Name, State: d.State})
		}
	}
	return out, nil
}

// LiveVM reads a running VM's devices back from libvirt.
func (a *Agent) LiveVM(ctx context.Context, id string) (LiveVM, error) {
	if a.staging.has(id) {
		return LiveVM{}, fmt.Errorf("%w: %s", ErrStarting, id)
	}
	// Read before the devices: a change that ends in between is then
	// reported busy (settled at the next report), never absent and idle.
	busy := a.busy.of(id)
	live, err := a.owned(ctx, id)
	if err != nil {
		return LiveVM{}, err
	}
	st := StateRunning
	doms, err := a.hv.Domains(ctx)
	if err != nil {
		return LiveVM{}, err
	}
	for _, d := range doms {
		if d.UUID == id {
			st = d.State
		}
	}
	return LiveVM{VMStatus: VMStatus{ID: id, Name: live.Name, State: st}, Devices: live.Devices, Busy: busy}, nil
}

// DestroyVM powers a VM off at once.
func (a *Agent) DestroyVM(ctx context.Context, id string) error {
	if err := a.checkOwned(ctx, id); err != nil {
		return err
	}
	if err := a.hv.Destroy(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	a.stopLUNProxies(id)
	return nil
}

// ShutdownVM asks the guest to power off, through the guest agent and then
// ACPI, and waits for it. If the guest is still up after timeout it is
// powered off, as oVirt does; the VM is down when ShutdownVM returns nil.
func (a *Agent) ShutdownVM(ctx context.Context, id string, timeout time.Duration) error {
	if err := a.checkOwned(ctx, id); err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	err := a.hv.Shutdown(ctx, id, ShutdownGuestAgent)
	if err != nil {
		a.log.Info("guest agent shutdown failed, trying ACPI", "vm", id, "err", err)
		err = a.hv.Shutdown(ctx, id, ShutdownACPI)
	}
	if errors.Is(err, ErrNotFound) {
		a.stopLUNProxies(id)
		return nil
	}
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if a.waitGone(wctx, id) == nil {
			a.stopLUNProxies(id)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	a.log.Warn("graceful shutdown did not finish, powering off", "vm", id, "timeout", timeout, "err", err)
	if err := a.hv.Destroy(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	a.stopLUNProxies(id)
	return nil
}

// waitGone waits until the transient domain no longer exists.
func (a *Agent) waitGone(ctx context.Context, id string) error {
	evs := a.hv.Subscribe(ctx)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := a.hv.DomainXML(ctx, id); errors.Is(err, ErrNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-evs:
		case <-tick.C:
		}
	}
}
