package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// ErrNoSCSIPolicy: the disk runs without a proxy, so there is no policy to
// change live; the VM must restart (or the disk be re-plugged) with one.
var ErrNoSCSIPolicy = errors.New("disk has no SCSI command policy proxy")

// How a pass-through iSCSI LUN's SCSI command policy is enforced
// (Config.LUNEnforcer).
const (
	// EnforceGuard: QEMU connects to the target itself, through a front
	// port the kernel diverts; the agent sees only the initiator's bytes
	// and rewrites refused commands in place (internal/iscsi/guard). The
	// read path costs what the direct path does.
	EnforceGuard = "guard"
	// EnforceProxy: QEMU connects to a user-space iSCSI proxy on loopback
	// that connects to the target (internal/iscsi/proxy): no netfilter
	// needed, a second TCP hop on every byte.
	EnforceProxy = "proxy"
)

// lunEnforcer is what the agent needs of a disk's proxy or guard.
type lunEnforcer interface {
	SetPolicy(*scsipolicy.Policy)
	Stats() scsipolicy.Stats
	Close() error
}

// lunEnforcement is a running enforcer and its record.
type lunEnforcement struct {
	e   lunEnforcer
	rec proxyRecord
}

// lunProxies are the enforcers of a host's pass-through LUN disks that
// carry a SCSI command policy: one per VM and disk, started before QEMU
// opens the LUN and stopped when the disk or the VM goes.
type lunProxies struct {
	mu    sync.Mutex
	byVM  map[string]map[string]lunEnforcement
	watch map[string]context.CancelFunc // per VM: stops proxies when the domain stops
	ports map[uint16]struct{}           // guards' front ports in use (lunguard.go)
	stop  chan struct{}                 // closed by Close: ends reconcileGuards
}

// proxied returns d pointing QEMU at a new proxy for it when it carries a
// SCSI command policy, and the function that stops that proxy again; other
// disks come back as they are.
func (a *Agent) proxied(ctx context.Context, vmID string, d vmspec.Disk) (vmspec.Disk, func(), error) {
	if d.SCSIPolicy == nil || d.ISCSI == nil {
		return d, func() {}, nil
	}
	pol, err := scsipolicy.Resolve(*d.SCSIPolicy)
	if err != nil {
		return d, nil, fmt.Errorf("%w: disk %s: %v", vmspec.ErrInvalid, d.ID, err)
	}
	port := d.ISCSI.Port
	if port == 0 {
		port = 3260
	}
	rec := proxyRecord{Mode: a.cfg.LUNEnforcer, Target: net.JoinHostPort(d.ISCSI.Host, strconv.Itoa(int(port))), Policy: *d.SCSIPolicy}
	if rec.Mode == "" {
		rec.Mode = EnforceProxy
	}
	rec, err = a.startProxy(ctx, vmID, d.ID, rec, pol)
	if err != nil {
		return d, nil, err
	}
	host, p, err := net.SplitHostPort(rec.Listen)
	if err != nil {
		return d, nil, err
	}
	listen, _ := strconv.ParseUint(p, 10, 16)
	src := *d.ISCSI
	src.Host, src.Port = host, uint16(listen)
	d.ISCSI = &src
	a.log.Info("SCSI command policy enforced", "vm", vmID, "disk", d.ID, "policy", pol.Name(), "by", rec.Mode, "qemu_connects_to", rec.Listen)
	return d, func() { a.stopLUNProxy(vmID, d.ID) }, nil
}

// proxyRecord is what the agent keeps on disk about a running enforcer, so
// that a restarted agent enforces again where QEMU reconnects.
type proxyRecord struct {
	// Mode is EnforceProxy (also when empty: records of older agents) or
	// EnforceGuard.
	Mode string `json:"mode,omitempty"`
	// Listen is where QEMU connects: the proxy's address, or the target's
	// address and the guard's front port.
	Listen string          `json:"listen"`
	Target string          `json:"target"`
	Policy scsipolicy.Spec `json:"policy"`
}

func (a *Agent) proxyDir(vmID string) string {
	return filepath.Join(a.cfg.StateDir, "lunproxy", vmID)
}

// startProxy starts a disk's enforcer (where rec.Listen says when set),
// registers it and records it; the record returned says where QEMU
// connects.
func (a *Agent) startProxy(ctx context.Context, vmID, diskID string, rec proxyRecord, pol *scsipolicy.Policy) (proxyRecord, error) {
	var e lunEnforcer
	var err error
	log := a.log.With("vm", vmID, "disk", diskID)
	// The enforcer outlives the request that started it.
	switch rec.Mode {
	case EnforceGuard:
		var g *portGuard
		g, err = a.startGuard(context.WithoutCancel(ctx), rec, pol, log)
		if err == nil {
			e, rec.Listen = g, g.Addr().String()
		}
	case EnforceProxy, "":
		var p *proxy.Proxy
		p, err = proxy.Start(context.WithoutCancel(ctx), proxy.Config{Target: rec.Target, Listen: rec.Listen, Policy: pol, Logger: log})
		if err == nil {
			e, rec.Listen = p, p.Addr().String()
		}
	default:
		err = fmt.Errorf("unknown SCSI policy enforcer %q", rec.Mode)
	}
	if err != nil {
		return rec, fmt.Errorf("disk %s: %w", diskID, err)
	}
	if err := a.writeProxyRecord(vmID, diskID, rec); err != nil {
		_ = e.Close()
		return rec, err
	}
	a.proxies.mu.Lock()
	if a.proxies.byVM == nil {
		a.proxies.byVM = map[string]map[string]lunEnforcement{}
	}
	if a.proxies.byVM[vmID] == nil {
		a.proxies.byVM[vmID] = map[string]lunEnforcement{}
	}
	old, had := a.proxies.byVM[vmID][diskID]
	a.proxies.byVM[vmID][diskID] = lunEnforcement{e: e, rec: rec}
	a.proxies.mu.Unlock()
	if had {
		_ = old.e.Close()
	}
	return rec, nil
}

func (a *Agent) writeProxyRecord(vmID, diskID string, rec proxyRecord) error {
	dir := a.proxyDir(vmID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("record LUN proxy: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, diskID+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("record LUN proxy: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, diskID+".json"))
}

// restoreLUNProxies starts again the proxies a previous run of the agent
// recorded, on the same addresses, so that QEMU's initiators of running
// VMs reconnect; proxies of VMs that no longer run are then dropped.
func (a *Agent) restoreLUNProxies() {
	vms, _ := os.ReadDir(filepath.Join(a.cfg.StateDir, "lunproxy"))
	var restored []string
	for _, vm := range vms {
		files, _ := filepath.Glob(filepath.Join(a.proxyDir(vm.Name()), "*.json"))
		for _, f := range files {
			diskID := filepath.Base(f[:len(f)-len(".json")])
			var rec proxyRecord
			b, err := os.ReadFile(f)
			if err == nil {
				err = json.Unmarshal(b, &rec)
			}
			var pol *scsipolicy.Policy
			if err == nil {
				pol, err = scsipolicy.Resolve(rec.Policy)
			}
			if err == nil {
				rec, err = a.startProxy(context.Background(), vm.Name(), diskID, rec, pol)
			}
			if err != nil {
				a.log.Error("cannot restore a LUN proxy: the VM's LUN stays unreachable", "vm", vm.Name(), "disk", diskID, "err", err)
				continue
			}
			a.log.Info("SCSI command policy enforcement restored", "vm", vm.Name(), "disk", diskID, "by", rec.Mode, "qemu_connects_to", rec.Listen, "policy", pol.Name())
		}
		restored = append(restored, vm.Name())
	}
	if len(restored) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, id := range restored {
			if err := a.checkOwned(ctx, id); errors.Is(err, ErrNotFound) {
				a.stopLUNProxies(id)
				continue
			}
			a.watchVM(id)
		}
	}()
}

// Close stops the agent's proxies but keeps their records, so that the
// next run of the agent restores them for the VMs still running.
func (a *Agent) Close() {
	a.proxies.mu.Lock()
	all := a.proxies.byVM
	a.proxies.byVM = nil
	for _, cancel := range a.proxies.watch {
		cancel()
	}
	a.proxies.watch = nil
	if a.proxies.stop != nil {
		close(a.proxies.stop)
		a.proxies.stop = nil
	}
	a.proxies.mu.Unlock()
	for _, ps := range all {
		for _, p := range ps {
			_ = p.e.Close()
		}
	}
}

// stopLUNProxy stops the proxy of one disk, if it has one.
func (a *Agent) stopLUNProxy(vmID, diskID string) {
	a.proxies.mu.Lock()
	p, ok := a.proxies.byVM[vmID][diskID]
	delete(a.proxies.byVM[vmID], diskID)
	a.proxies.mu.Unlock()
	_ = os.Remove(filepath.Join(a.proxyDir(vmID), diskID+".json"))
	if ok {
		_ = p.e.Close()
		a.log.Info("SCSI command policy enforcement stopped", "vm", vmID, "disk", diskID, "by", p.rec.Mode)
	}
}

// stopLUNProxies stops every proxy of a VM.
func (a *Agent) stopLUNProxies(vmID string) {
	a.proxies.mu.Lock()
	ps := a.proxies.byVM[vmID]
	delete(a.proxies.byVM, vmID)
	if cancel := a.proxies.watch[vmID]; cancel != nil {
		cancel()
		delete(a.proxies.watch, vmID)
	}
	a.proxies.mu.Unlock()
	_ = os.RemoveAll(a.proxyDir(vmID))
	for id, p := range ps {
		_ = p.e.Close()
		a.log.Info("SCSI command policy enforcement stopped", "vm", vmID, "disk", id, "by", p.rec.Mode)
	}
}

// watchVM stops a VM's proxies once its domain stops, whoever stopped it
// (the guest powering off, a crash, another client).
func (a *Agent) watchVM(vmID string) {
	a.proxies.mu.Lock()
	defer a.proxies.mu.Unlock()
	if a.proxies.watch == nil {
		a.proxies.watch = map[string]context.CancelFunc{}
	}
	if a.proxies.watch[vmID] != nil || len(a.proxies.byVM[vmID]) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.proxies.watch[vmID] = cancel
	evs := a.hv.Subscribe(ctx)
	go func() {
		for ev := range evs {
			if ev.VMID == vmID && ev.Kind == EventLifecycle && (ev.State == StateShutoff || ev.State == StateCrashed) {
				a.stopLUNProxies(vmID)
				return
			}
		}
	}()
}

// SetSCSIPolicy changes the policy of a running VM's LUN disk at once: the
// next command on every connection is judged by it.
func (a *Agent) SetSCSIPolicy(ctx context.Context, vmID, diskID string, spec scsipolicy.Spec) error {
	pol, err := scsipolicy.Resolve(spec)
	if err != nil {
		return fmt.Errorf("%w: %v", vmspec.ErrInvalid, err)
	}
	if err := a.checkOwned(ctx, vmID); err != nil {
		return err
	}
	a.proxies.mu.Lock()
	p, ok := a.proxies.byVM[vmID][diskID]
	a.proxies.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: vm %s disk %s", ErrNoSCSIPolicy, vmID, diskID)
	}
	rec := p.rec
	rec.Policy = spec
	if err := a.writeProxyRecord(vmID, diskID, rec); err != nil {
		return err
	}
	a.proxies.mu.Lock()
	if cur, ok := a.proxies.byVM[vmID][diskID]; ok && cur.e == p.e {
		a.proxies.byVM[vmID][diskID] = lunEnforcement{e: p.e, rec: rec}
	}
	a.proxies.mu.Unlock()
	p.e.SetPolicy(pol)
	a.log.Info("SCSI command policy changed", "vm", vmID, "disk", diskID, "policy", pol.Name())
	return nil
}

// SCSIPolicyStats reports, per disk of a VM that has a proxy, the commands
// it saw and refused.
func (a *Agent) SCSIPolicyStats(vmID string) map[string]scsipolicy.Stats {
	a.proxies.mu.Lock()
	defer a.proxies.mu.Unlock()
	out := map[string]scsipolicy.Stats{}
	for id, p := range a.proxies.byVM[vmID] {
		out[id] = p.e.Stats()
	}
	return out
}
