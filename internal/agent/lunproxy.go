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

// lunProxies are the iSCSI proxies of a host's pass-through LUN disks that
// carry a SCSI command policy: one per VM and disk, on loopback, started
// before QEMU opens the LUN and stopped when the disk or the VM goes.
type lunProxies struct {
	mu    sync.Mutex
	byVM  map[string]map[string]*proxy.Proxy
	watch map[string]context.CancelFunc // per VM: stops proxies when the domain stops
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
	rec := proxyRecord{Target: net.JoinHostPort(d.ISCSI.Host, strconv.Itoa(int(port))), Policy: *d.SCSIPolicy}
	p, err := a.startProxy(ctx, vmID, d.ID, rec, pol)
	if err != nil {
		return d, nil, err
	}
	src := *d.ISCSI
	src.Host, src.Port = "127.0.0.1", uint16(p.Addr().Port)
	d.ISCSI = &src
	a.log.Info("SCSI command policy proxy started", "vm", vmID, "disk", d.ID, "policy", pol.Name(), "listen", p.Addr().String())
	return d, func() { a.stopLUNProxy(vmID, d.ID) }, nil
}

// proxyRecord is what the agent keeps on disk about a running proxy, so that
// a restarted agent listens again where QEMU reconnects.
type proxyRecord struct {
	Listen string          `json:"listen"`
	Target string          `json:"target"`
	Policy scsipolicy.Spec `json:"policy"`
}

func (a *Agent) proxyDir(vmID string) string {
	return filepath.Join(a.cfg.StateDir, "lunproxy", vmID)
}

// startProxy starts a disk's proxy (on rec.Listen when set), registers it
// and records it.
func (a *Agent) startProxy(ctx context.Context, vmID, diskID string, rec proxyRecord, pol *scsipolicy.Policy) (*proxy.Proxy, error) {
	// The proxy outlives the request that started it.
	p, err := proxy.Start(context.WithoutCancel(ctx), proxy.Config{
		Target: rec.Target, Listen: rec.Listen, Policy: pol,
		Logger: a.log.With("vm", vmID, "disk", diskID),
	})
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", diskID, err)
	}
	rec.Listen = p.Addr().String()
	if err := a.writeProxyRecord(vmID, diskID, rec); err != nil {
		_ = p.Close()
		return nil, err
	}
	a.proxies.mu.Lock()
	if a.proxies.byVM == nil {
		a.proxies.byVM = map[string]map[string]*proxy.Proxy{}
	}
	if a.proxies.byVM[vmID] == nil {
		a.proxies.byVM[vmID] = map[string]*proxy.Proxy{}
	}
	old := a.proxies.byVM[vmID][diskID]
	a.proxies.byVM[vmID][diskID] = p
	a.proxies.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return p, nil
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
				_, err = a.startProxy(context.Background(), vm.Name(), diskID, rec, pol)
			}
			if err != nil {
				a.log.Error("cannot restore a LUN proxy: the VM's LUN stays unreachable", "vm", vm.Name(), "disk", diskID, "err", err)
				continue
			}
			a.log.Info("SCSI command policy proxy restored", "vm", vm.Name(), "disk", diskID, "listen", rec.Listen, "policy", pol.Name())
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
	a.proxies.mu.Unlock()
	for _, ps := range all {
		for _, p := range ps {
			_ = p.Close()
		}
	}
}

// stopLUNProxy stops the proxy of one disk, if it has one.
func (a *Agent) stopLUNProxy(vmID, diskID string) {
	a.proxies.mu.Lock()
	p := a.proxies.byVM[vmID][diskID]
	delete(a.proxies.byVM[vmID], diskID)
	a.proxies.mu.Unlock()
	_ = os.Remove(filepath.Join(a.proxyDir(vmID), diskID+".json"))
	if p != nil {
		_ = p.Close()
		a.log.Info("SCSI command policy proxy stopped", "vm", vmID, "disk", diskID)
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
		_ = p.Close()
		a.log.Info("SCSI command policy proxy stopped", "vm", vmID, "disk", id)
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
	p := a.proxies.byVM[vmID][diskID]
	a.proxies.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: vm %s disk %s", ErrNoSCSIPolicy, vmID, diskID)
	}
	rec := proxyRecord{Listen: p.Addr().String(), Target: p.Target(), Policy: spec}
	if err := a.writeProxyRecord(vmID, diskID, rec); err != nil {
		return err
	}
	p.SetPolicy(pol)
	a.log.Info("SCSI command policy changed", "vm", vmID, "disk", diskID, "policy", pol.Name())
	return nil
}

// SCSIPolicyStats reports, per disk of a VM that has a proxy, the commands
// it saw and refused.
func (a *Agent) SCSIPolicyStats(vmID string) map[string]proxy.Stats {
	a.proxies.mu.Lock()
	defer a.proxies.mu.Unlock()
	out := map[string]proxy.Stats{}
	for id, p := range a.proxies.byVM[vmID] {
		out[id] = p.Stats()
	}
	return out
}
