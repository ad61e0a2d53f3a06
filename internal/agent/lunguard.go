package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/govirt/govirt/internal/iscsi/guard"
	"github.com/govirt/govirt/internal/iscsi/sockguard"
	"github.com/govirt/govirt/internal/netfilter/divert"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// Front ports of the agent's guards (Config.GuardPorts when not set): below
// Linux's ephemeral range (32768-60999), so that no initiator's own port is
// ever one of them, and above the ports iSCSI and the usual services use.
const (
	defaultGuardPortMin = 20000
	defaultGuardPortMax = 29999
)

// startGuard starts a disk's guard: on the front port rec.Listen names (a
// restart), else on a free one. The port doubles as the guard's queue
// number: both are unique on the host.
func (a *Agent) startGuard(ctx context.Context, rec proxyRecord, pol *scsipolicy.Policy, log *slog.Logger) (*portGuard, error) {
	target, err := resolvePortal(ctx, rec.Target)
	if err != nil {
		return nil, err
	}
	start := func(port uint16) (*portGuard, error) {
		g, err := guard.Start(ctx, guard.Config{Target: target, FrontPort: port, Queue: port, Policy: pol, Logger: log, Kernel: a.kernelGuard})
		if err != nil {
			a.proxies.releasePort(port)
			return nil, err
		}
		return &portGuard{Guard: g, free: func() { a.proxies.releasePort(port) }}, nil
	}
	if rec.Listen != "" {
		ap, err := netip.ParseAddrPort(rec.Listen)
		if err != nil {
			return nil, fmt.Errorf("guard record: %w", err)
		}
		a.proxies.reservePort(ap.Port())
		return start(ap.Port())
	}
	// Another agent on this host (tests run several) may hold ports: its
	// diverts are skipped, and a queue another process has bound (EPERM)
	// moves on to the next port.
	installed, err := divert.List(ctx)
	if err != nil {
		return nil, err
	}
	skip := map[uint16]bool{}
	for _, d := range installed {
		skip[d.FrontPort] = true
	}
	lo, hi := a.guardPorts()
	for range maxPortTries {
		port, err := a.proxies.pickPort(lo, hi, skip)
		if err != nil {
			return nil, err
		}
		g, err := start(port)
		if errors.Is(err, syscall.EPERM) {
			skip[port] = true
			continue
		}
		return g, err
	}
	return nil, fmt.Errorf("no free guard front port after %d tries", maxPortTries)
}

// openKernelGuard loads the guards' kernel half, or says why the guards
// enforce in the queue alone (every command then waits for the agent).
func openKernelGuard(log *slog.Logger) guard.Kernel {
	h, err := sockguard.Open()
	if err != nil {
		log.Warn("iSCSI guard: no kernel half; every SCSI command goes through the agent's queue", "err", err)
		return nil
	}
	return h
}

// maxPortTries bounds the ports a guard start tries.
const maxPortTries = 64

// removeStaleGuards deletes the diverts a killed agent left behind (after
// this one restored its own): ports that only drop packets.
func (a *Agent) removeStaleGuards() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lo, hi := a.guardPorts()
	removed, err := guard.RemoveStale(ctx, lo, hi, a.kernelGuard)
	for _, d := range removed {
		a.log.Info("removed the divert of a guard that no longer runs", "target", d.Target.String(), "front_port", d.FrontPort)
	}
	if err != nil {
		a.log.Warn("removing the diverts of guards that no longer run", "err", err)
	}
}

// reconcileEvery is how often the agent checks that its guards' queue
// rules are still in the path.
const reconcileEvery = 10 * time.Second

// reconcileGuards puts back, every reconcileEvery until stop closes, the
// rules of guards someone removed (a firewall reload that flushes the
// tables): established connections keep their NAT without them, and would
// flow on unguarded. One mangle dump a check, whatever the number of guards.
func (a *Agent) reconcileGuards(stop <-chan struct{}) {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		a.reconcileOnce()
	}
}

func (a *Agent) reconcileOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), reconcileEvery)
	defer cancel()
	byDivert := map[divert.Divert]*portGuard{}
	a.proxies.mu.Lock()
	for _, disks := range a.proxies.byVM {
		for _, e := range disks {
			if g, ok := e.e.(*portGuard); ok {
				byDivert[g.Divert()] = g
			}
		}
	}
	a.proxies.mu.Unlock()
	if len(byDivert) == 0 {
		return
	}
	ds := make([]divert.Divert, 0, len(byDivert))
	for d := range byDivert {
		ds = append(ds, d)
	}
	broken, err := divert.Broken(ctx, ds)
	if err != nil {
		a.log.Warn("checking the guards' rules", "err", err)
		return
	}
	for _, d := range broken {
		err := byDivert[d].Repair(ctx)
		a.log.Error("a guard's queue rule was removed from the path: rules put back, its connections stopped",
			"target", d.Target.String(), "front_port", d.FrontPort, "repair_err", err)
	}
}

// portGuard gives its front port back when it closes.
type portGuard struct {
	*guard.Guard
	free func()
}

func (g *portGuard) Close() error {
	err := g.Guard.Close()
	g.free()
	return err
}

func (a *Agent) guardPorts() (lo, hi uint16) {
	if a.cfg.GuardPorts[0] != 0 {
		return a.cfg.GuardPorts[0], a.cfg.GuardPorts[1]
	}
	return defaultGuardPortMin, defaultGuardPortMax
}

// resolvePortal turns a portal's host:port into the address the kernel
// diverts to (the first IPv4 address of a name, else its first address).
func resolvePortal(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("portal %s: %w", hostport, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("portal %s: cannot resolve: %v", hostport, err)
	}
	pick := addrs[0]
	for _, ad := range addrs {
		if ad.Is4() || ad.Is4In6() {
			pick = ad.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(pick, uint16(port)), nil
}

// pickPort reserves the lowest front port of [lo, hi] that this agent
// does not use and skip does not name.
func (l *lunProxies) pickPort(lo, hi uint16, skip map[uint16]bool) (uint16, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := uint32(lo); p <= uint32(hi); p++ {
		if _, used := l.ports[uint16(p)]; !used && !skip[uint16(p)] {
			l.reserveLocked(uint16(p))
			return uint16(p), nil
		}
	}
	return 0, fmt.Errorf("all %d guard front ports (%d-%d) are in use", int(hi)-int(lo)+1, lo, hi)
}

func (l *lunProxies) reservePort(p uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserveLocked(p)
}

func (l *lunProxies) reserveLocked(p uint16) {
	if l.ports == nil {
		l.ports = map[uint16]struct{}{}
	}
	l.ports[p] = struct{}{}
}

func (l *lunProxies) releasePort(p uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ports, p)
}
