package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/netfilter/divert"
	"github.com/govirt/govirt/internal/netfilter/nfqueue"
	"github.com/govirt/govirt/internal/netfilter/tcpip"
	"github.com/govirt/govirt/internal/scsipolicy"
	"golang.org/x/sys/unix"
)

// Config says which portal a guard stands before, where QEMU reaches it and
// what it enforces.
type Config struct {
	// Target is the real iSCSI portal.
	Target netip.AddrPort
	// FrontPort is the port on Target's address that QEMU connects to; the
	// kernel sends it on to Target. It must not be a port anything else on
	// this host connects to on that address.
	FrontPort uint16
	// Queue is the NFQUEUE number, one per guard on the host.
	Queue uint16
	// Policy is the initial policy; nil means filtered.
	Policy *scsipolicy.Policy
	// Logger receives one warning per refused command (at most one per
	// second per connection) and one per stopped connection.
	Logger *slog.Logger
	// Kernel, when set, enforces the policy on the initiator's own socket
	// once a login ends (internal/iscsi/sockguard): the guard then reads
	// only the logins, and no packet of a running connection waits for it.
	Kernel Kernel
}

// Kernel is what a guard needs of the kernel half of the enforcement.
type Kernel interface {
	// Guard puts a front port under a policy, or changes its policy.
	Guard(port uint16, pol *scsipolicy.Policy) error
	// Unguard forgets a front port.
	Unguard(port uint16) error
	// Arm lets a connection leave its login, its PDUs framed with d;
	// an error means the kernel does not follow it.
	Arm(initiator netip.AddrPort, port uint16, d pdu.Digests) error
	// Stats counts the commands the kernel decided on a port.
	Stats(port uint16) (scsipolicy.Stats, error)
}

// Stats counts what a guard saw since it started.
type Stats = scsipolicy.Stats

// queue is what a guard needs of its NFQUEUE.
type queue interface {
	Read() (nfqueue.Packet, error)
	Verdict(id uint32, accept bool, data []byte) error
	Close() error
}

// Guard enforces a SCSI command policy on the iSCSI connections QEMU opens
// to one portal through its front port, while they run, with the policy
// changeable at any time.
type Guard struct {
	cfg    Config
	log    *slog.Logger
	q      queue
	policy atomic.Pointer[scsipolicy.Policy]

	counters scsipolicy.Counters

	// conns and held belong to the loop goroutine.
	conns map[netip.AddrPort]*guarded
	held  map[uint32]heldPacket

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// guarded is one connection the loop follows.
type guarded struct {
	c    *Conn
	log  *scsipolicy.RefusalLog
	last time.Time
}

// heldPacket is a copy of a packet whose verdict waits.
type heldPacket struct {
	data             []byte
	seg              tcpip.Segment
	checksumNotReady bool
}

// Start opens the queue and then diverts the front port into it (never the
// other way round: a diverted port with no reader drops, it does not pass).
func Start(ctx context.Context, cfg Config) (*Guard, error) {
	if !cfg.Target.IsValid() || cfg.FrontPort == 0 {
		return nil, fmt.Errorf("iscsi guard: target %v, front port %d", cfg.Target, cfg.FrontPort)
	}
	// On loopback TCP's segments are near 64 KiB, so GSO packets of two
	// and more cannot be copied whole: the kernel segments them first
	// (the divert clamps the MSS under the copy range). Elsewhere GSO
	// packets fit and come whole, which is far cheaper than segments.
	q, err := nfqueue.OpenWith(cfg.Queue, nfqueue.Options{WaitInThread: true, Segment: cfg.Target.Addr().IsLoopback()})
	if err != nil {
		return nil, fmt.Errorf("iscsi guard for %v: %w", cfg.Target, err)
	}
	g := newGuard(cfg, q)
	// The kernel follows the port before anything can connect through it.
	if cfg.Kernel != nil {
		if err := cfg.Kernel.Guard(cfg.FrontPort, g.Policy()); err != nil {
			_ = q.Close()
			return nil, fmt.Errorf("iscsi guard for %v: %w", cfg.Target, err)
		}
	}
	if err := divert.Add(ctx, g.divert()); err != nil {
		_ = q.Close()
		g.unguardKernel()
		return nil, fmt.Errorf("iscsi guard for %v: %w", cfg.Target, err)
	}
	go g.loop()
	if cfg.Kernel != nil {
		go g.logKernelRefusals()
	}
	// Connections of an earlier guard on this port (an agent that
	// restarted) are stopped: this one did not see them open. Their
	// initiators reconnect at once, under its eye.
	if err := killSockets(ctx, g.front()); err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("iscsi guard for %v: %w", cfg.Target, err)
	}
	return g, nil
}

func (g *Guard) front() netip.AddrPort {
	return netip.AddrPortFrom(g.cfg.Target.Addr(), g.cfg.FrontPort)
}

// killSockets aborts this host's TCP sockets connected to addr (ss -K,
// SOCK_DESTROY): their owners see the connection reset.
func killSockets(ctx context.Context, addr netip.AddrPort) error {
	out, err := exec.CommandContext(ctx, "ss", "-K", "-t", "-n", "dst", addr.Addr().String(),
		"dport", "=", ":"+strconv.Itoa(int(addr.Port()))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ss -K (kill sockets to %v): %w: %s", addr, err, out)
	}
	return nil
}

func newGuard(cfg Config, q queue) *Guard {
	if cfg.Policy == nil {
		cfg.Policy = scsipolicy.Filtered()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, q: q, log: cfg.Logger.With("target", cfg.Target.String(), "front_port", cfg.FrontPort),
		conns: map[netip.AddrPort]*guarded{}, held: map[uint32]heldPacket{}, done: make(chan struct{})}
	g.policy.Store(cfg.Policy)
	return g
}

func (g *Guard) divert() divert.Divert {
	return divert.Divert{Target: g.cfg.Target, FrontPort: g.cfg.FrontPort, Queue: g.cfg.Queue, QueueUntilLogin: g.cfg.Kernel != nil}
}

// InKernel says whether the kernel enforces the policy once logins end.
func (g *Guard) InKernel() bool { return g.cfg.Kernel != nil }

func (g *Guard) unguardKernel() {
	if g.cfg.Kernel == nil {
		return
	}
	if err := g.cfg.Kernel.Unguard(g.cfg.FrontPort); err != nil {
		g.log.Warn("iscsi guard: the kernel still follows the front port", "err", err)
	}
}

// logKernelRefusals logs, at most once a second, the commands the kernel
// refused since the last look.
func (g *Guard) logKernelRefusals() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
		}
		s, err := g.cfg.Kernel.Stats(g.cfg.FrontPort)
		if err != nil || s.Refused == seen {
			continue
		}
		g.log.Warn("SCSI command refused", "command", s.LastRefused.Name(), "op", s.LastRefused.String(),
			"policy", g.Policy().Name(), "refused", s.Refused-seen, "enforced_by", "kernel")
		seen = s.Refused
	}
}

// Divert is the guard's path through the kernel, for a caller that checks
// it is still in place (divert.Broken).
func (g *Guard) Divert() divert.Divert { return g.divert() }

// Repair puts the guard's rules back after someone removed them, then
// stops the connections made through the front port: while the queue rule
// was gone their bytes passed unseen, so the guard cannot follow them (and
// must not let them go on); their initiators reconnect under its eye.
func (g *Guard) Repair(ctx context.Context) error {
	if err := divert.Add(ctx, g.divert()); err != nil {
		return err
	}
	return killSockets(ctx, g.front())
}

// Addr is where QEMU connects: the target's address, the front port.
func (g *Guard) Addr() *net.TCPAddr { return net.TCPAddrFromAddrPort(g.front()) }

// Target is the real portal.
func (g *Guard) Target() netip.AddrPort { return g.cfg.Target }

// SetPolicy changes the policy; the next command of every connection
// follows it.
func (g *Guard) SetPolicy(pol *scsipolicy.Policy) {
	if pol == nil {
		pol = scsipolicy.Filtered()
	}
	g.policy.Store(pol)
	if g.cfg.Kernel != nil {
		if err := g.cfg.Kernel.Guard(g.cfg.FrontPort, pol); err != nil {
			g.log.Error("iscsi guard: the kernel keeps the previous policy", "policy", pol.Name(), "err", err)
		}
	}
}

// Policy is the policy in force.
func (g *Guard) Policy() *scsipolicy.Policy { return g.policy.Load() }

// Stats reports the counters.
func (g *Guard) Stats() Stats {
	s := g.counters.Stats()
	if g.cfg.Kernel != nil {
		if k, err := g.cfg.Kernel.Stats(g.cfg.FrontPort); err == nil {
			s.Commands += k.Commands
			s.Refused += k.Refused
			if k.Refused > 0 {
				s.LastRefused = k.LastRefused
			}
		}
	}
	return s
}

// Close takes the divert away (the front port then leads nowhere) and
// closes the queue.
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Established connections keep their NAT when the rules go: they
		// are stopped first, and once more after (one may have opened in
		// between; with the rules gone, a new one reaches nothing).
		kerr := killSockets(ctx, g.front())
		derr := divert.Delete(ctx, g.divert())
		kerr2 := killSockets(ctx, g.front())
		g.closeErr = errors.Join(kerr, derr, kerr2, g.q.Close())
		<-g.done
		g.unguardKernel()
	})
	return g.closeErr
}

// idleAfter is how long a connection may send nothing before the guard
// forgets it (QEMU's initiator sends a NOP-Out every few seconds; a
// forgotten connection that speaks again is stopped, and QEMU reconnects).
const idleAfter = 10 * time.Minute

func (g *Guard) loop() {
	defer close(g.done)
	// Every command QEMU sends waits in the queue for this loop: it keeps a
	// thread of its own, sleeps in it (nfqueue WaitInThread) and runs at
	// real-time priority, so that busy CPUs do not delay a verdict. Its
	// work per packet is bounded (a header parse and a verdict), so it
	// cannot starve the host; without CAP_SYS_NICE it runs as it is.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
		g.log.Debug("iscsi guard: no real-time priority for the queue reader", "err", err)
	}
	lastSweep := time.Now()
	for {
		pkt, err := g.q.Read()
		if errors.Is(err, nfqueue.ErrClosed) {
			return
		}
		if err != nil {
			g.log.Warn("iscsi guard: reading the queue", "err", err)
			continue
		}
		now := time.Now()
		g.packet(pkt, now)
		if now.Sub(lastSweep) > time.Minute {
			g.sweep(now)
			lastSweep = now
		}
	}
}

// packet decides one queued packet (and the held ones it frees).
func (g *Guard) packet(pkt nfqueue.Packet, now time.Time) {
	seg, err := tcpip.Parse(pkt.Data)
	if err != nil {
		g.verdict(pkt.ID, false, nil)
		return
	}
	syn := seg.Flags&tcpip.FlagSYN != 0
	dir, key := FromInitiator, netip.AddrPortFrom(seg.Src, seg.SrcPort)
	if seg.DstPort != g.cfg.FrontPort || seg.Dst != g.cfg.Target.Addr() {
		dir, key = FromTarget, netip.AddrPortFrom(seg.Dst, seg.DstPort)
	}
	gc := g.conns[key]
	if syn && dir == FromInitiator && (gc == nil || gc.c.dirs[FromInitiator].base != seg.Seq+1) {
		g.forget(key)
		gc = g.newConn(key)
	}
	if gc == nil {
		g.verdict(pkt.ID, false, nil)
		return
	}
	gc.last = now
	before := gc.c.Err()
	vs := gc.c.Segment(dir, pkt.ID, seg.Seq, syn, seg.Payload(pkt.Data))
	if err := gc.c.Err(); err != nil && before == nil {
		g.log.Warn("iscsi guard: connection stopped", "initiator", key.String(), "err", err)
	}
	decided := false
	for _, v := range vs {
		if v.ID == pkt.ID {
			decided = true
			g.apply(v, heldPacket{data: pkt.Data, seg: seg, checksumNotReady: pkt.ChecksumNotReady})
			continue
		}
		h := g.held[v.ID]
		delete(g.held, v.ID)
		g.apply(v, h)
	}
	if !decided {
		g.held[pkt.ID] = heldPacket{data: append([]byte(nil), pkt.Data...), seg: seg, checksumNotReady: pkt.ChecksumNotReady}
	}
}

// apply gives a packet its verdict, rewritten as it says.
func (g *Guard) apply(v Verdict, h heldPacket) {
	if v.Drop || len(v.Edits) == 0 {
		g.verdict(v.ID, !v.Drop, nil)
		return
	}
	for _, e := range v.Edits {
		if err := tcpip.Rewrite(h.data, h.seg, e.Off, e.Data, h.checksumNotReady); err != nil {
			// Cannot happen (edits lie inside the payload they were made
			// for); if it did, the command must not pass.
			g.log.Error("iscsi guard: rewrite", "err", err)
			g.verdict(v.ID, false, nil)
			return
		}
	}
	g.verdict(v.ID, true, h.data)
}

func (g *Guard) verdict(id uint32, accept bool, data []byte) {
	if err := g.q.Verdict(id, accept, data); err != nil && !errors.Is(err, nfqueue.ErrClosed) {
		g.log.Warn("iscsi guard: verdict", "err", err)
	}
}

func (g *Guard) newConn(key netip.AddrPort) *guarded {
	g.counters.Connection()
	gc := &guarded{log: scsipolicy.NewRefusalLog(g.log.With("initiator", key.String()))}
	gc.c = NewConn(g.policy.Load, func(d scsipolicy.Decision, lun uint64) {
		if g.counters.Command(d) {
			gc.log.Refused(d, lun, g.policy.Load().Name())
		}
	})
	gc.c.OnLogin = func(p pdu.Params) error {
		// With a kernel half, the connection is armed there before the
		// final Login Response reaches the initiator, that is before it
		// can send a command; a connection the kernel does not follow is
		// stopped.
		if g.cfg.Kernel != nil {
			if err := g.cfg.Kernel.Arm(key, g.cfg.FrontPort, pdu.Digests{Header: p.HeaderDigest, Data: p.DataDigest}); err != nil {
				return err
			}
		}
		// The target's packets stop coming through the queue (what follows
		// is Data-In, which must not be delayed behind its successors),
		// and with a kernel half the initiator's too.
		if err := divert.MarkLoginDone(key, g.front()); err != nil {
			g.log.Warn("iscsi guard: the connection's packets stay queued after the login", "initiator", key.String(), "err", err)
		}
		g.log.Info("iSCSI login complete", "initiator", key.String(), "header_digest", p.HeaderDigest, "data_digest", p.DataDigest,
			"immediate_data", p.ImmediateData, "initial_r2t", p.InitialR2T, "kernel", g.cfg.Kernel != nil)
		return nil
	}
	g.conns[key] = gc
	return gc
}

// forget drops a connection the guard follows no more, and what it held.
func (g *Guard) forget(key netip.AddrPort) {
	gc := g.conns[key]
	if gc == nil {
		return
	}
	for _, v := range gc.c.Abandon() {
		delete(g.held, v.ID)
		g.verdict(v.ID, false, nil)
	}
	delete(g.conns, key)
}

func (g *Guard) sweep(now time.Time) {
	for key, gc := range g.conns {
		if now.Sub(gc.last) > idleAfter {
			g.forget(key)
		}
	}
}

// RemoveStale deletes the diverts with a front port in [lo, hi] of guards
// that no longer run: their queue has no reader (the agent that installed
// them was killed), so the front port only drops packets. A divert whose
// queue some process reads (another agent's, or this one's) stays, and so
// does everything outside the range. It returns what it removed. With k
// set, the kernel half forgets the removed front ports too.
func RemoveStale(ctx context.Context, lo, hi uint16, k Kernel) ([]divert.Divert, error) {
	installed, err := divert.List(ctx)
	if err != nil {
		return nil, err
	}
	var removed []divert.Divert
	var errs []error
	for _, d := range installed {
		if d.FrontPort < lo || d.FrontPort > hi {
			continue
		}
		q, err := nfqueue.Open(d.Queue)
		if err != nil {
			continue // read by someone
		}
		// While this holds the queue nobody else can start a guard on it.
		if err := divert.Delete(ctx, d); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, d)
			if k != nil {
				errs = append(errs, k.Unguard(d.FrontPort))
			}
		}
		_ = q.Close()
	}
	return removed, errors.Join(errs...)
}
