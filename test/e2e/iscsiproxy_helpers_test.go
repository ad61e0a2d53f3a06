package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/govirt/govirt/internal/iscsi/guard"
	"github.com/govirt/govirt/internal/iscsi/initiator"
	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/iscsi/sockguard"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// syncBuffer is a log sink tests read while the proxy writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// enforcer is the agent's proxy or guard as these tests drive them.
type enforcer interface {
	SetPolicy(*scsipolicy.Policy)
	Stats() scsipolicy.Stats
}

// enforcerKind is one way the agent enforces a policy on an iSCSI LUN.
type enforcerKind struct {
	name string
	// standIn is the operation code a refused command reaches the target
	// as: the proxy sends TEST UNIT READY in its place, the guard a code
	// SPC reserves.
	standIn byte
	start   func(ctx context.Context, t *testing.T, target string, pol *scsipolicy.Policy, log *slog.Logger) (addr string, e enforcer)
}

// guardPorts hands out front ports (and queue numbers) to the tests'
// guards: in the agent's range, away from the agents these tests run.
var guardPorts atomic.Uint32

func init() { guardPorts.Store(28500) }

var enforcerKinds = []enforcerKind{
	{name: "proxy", standIn: 0x00, start: func(ctx context.Context, t *testing.T, target string, pol *scsipolicy.Policy, log *slog.Logger) (string, enforcer) {
		p, err := proxy.Start(ctx, proxy.Config{Target: target, Policy: pol, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p.Addr().String(), p
	}},
	{name: "guard", standIn: 0x7d, start: func(ctx context.Context, t *testing.T, target string, pol *scsipolicy.Policy, log *slog.Logger) (string, enforcer) {
		return startGuard(ctx, t, target, pol, log, nil)
	}},
	// The agent's default: the guard reads the logins, the kernel enforces
	// on QEMU's socket after them.
	{name: "kernel", standIn: 0x7d, start: func(ctx context.Context, t *testing.T, target string, pol *scsipolicy.Policy, log *slog.Logger) (string, enforcer) {
		h := kernelGuard(t)
		addr, g := startGuard(ctx, t, target, pol, log, h)
		port := g.(*guard.Guard).Addr().Port
		// Registered after the guard's own cleanup, so it runs before it,
		// while the port's counters are still there.
		t.Cleanup(func() {
			if s, err := h.Stats(uint16(port)); err == nil && s.Commands == 0 {
				t.Errorf("the kernel decided no command on port %d: the queue did the work", port)
			}
		})
		return addr, g
	}},
}

// startGuard starts a guard in front of target, with kernel as its
// kernel half when not nil.
func startGuard(ctx context.Context, t *testing.T, target string, pol *scsipolicy.Policy, log *slog.Logger, kernel guard.Kernel) (string, enforcer) {
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(guardPorts.Add(1))
	g, err := guard.Start(ctx, guard.Config{Target: ap, FrontPort: port, Queue: port, Policy: pol, Logger: log, Kernel: kernel})
	if err != nil {
		t.Fatalf("guard before %s: %v", target, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g.Addr().String(), g
}

var (
	kernelOnce sync.Once
	kernelHost *sockguard.Host
	kernelErr  error
)

// kernelGuard is this test process's handle on the host's kernel guard.
func kernelGuard(t *testing.T) *sockguard.Host {
	kernelOnce.Do(func() { kernelHost, kernelErr = sockguard.Open() })
	if kernelErr != nil {
		t.Fatalf("the kernel guard must load on this host (root, cgroup v2, BPF): %v", kernelErr)
	}
	return kernelHost
}

// eachEnforcer runs a test under the proxy and under the guard.
func eachEnforcer(t *testing.T, test func(t *testing.T, k enforcerKind)) {
	for _, k := range enforcerKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			test(t, k)
		})
	}
}

// startEnforcer runs an enforcer of kind k in front of target with a
// policy; its log goes to the returned buffer.
func startEnforcer(ctx context.Context, t *testing.T, k enforcerKind, target string, pol *scsipolicy.Policy) (string, enforcer, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	addr, e := k.start(ctx, t, target, pol, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return addr, e, logs
}

// capture is a plain TCP relay between the proxy and tgtd that records
// both directions of every connection: evidence of what reached the target
// that does not depend on the proxy's own account.
type capture struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*capturedConn
	wg     sync.WaitGroup
}

type capturedConn struct {
	toTarget, fromTarget syncBuffer
}

func startCapture(t *testing.T, target string) *capture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); c.wg.Wait() })
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			cc := &capturedConn{}
			c.mu.Lock()
			c.conns = append(c.conns, cc)
			c.mu.Unlock()
			c.wg.Add(2)
			pipe := func(dst, src net.Conn, rec io.Writer) {
				defer c.wg.Done()
				_, _ = io.Copy(io.MultiWriter(dst, rec), src)
				_ = dst.Close()
				_ = src.Close()
			}
			go pipe(out, in, &cc.toTarget)
			go pipe(in, out, &cc.fromTarget)
		}
	}()
	return c
}

func (c *capture) Addr() string { return c.ln.Addr().String() }

// commands decodes every SCSI command the target received on every
// connection so far: login PDUs without digests, then the rest with the
// digests the two sides negotiated.
func (c *capture) commands(t *testing.T) [][]byte {
	t.Helper()
	c.mu.Lock()
	conns := append([]*capturedConn(nil), c.conns...)
	c.mu.Unlock()
	var cdbs [][]byte
	for i, cc := range conns {
		toT := []byte(cc.toTarget.String())
		fromT := []byte(cc.fromTarget.String())
		neg := pdu.NewNegotiation()
		loginEnd := func(b []byte, side pdu.Side, op pdu.Opcode) int {
			off := 0
			for {
				p, n, err := pdu.Decode(b[off:], pdu.Digests{})
				if err != nil || p.Opcode() != op {
					return off
				}
				_, cont, _, _ := p.LoginFlags()
				if err := neg.Add(side, p.Data, cont); err != nil {
					t.Fatalf("capture %d: login text: %v", i, err)
				}
				off += n
				if p.EndsLogin() {
					return off
				}
			}
		}
		off := loginEnd(toT, pdu.Initiator, pdu.OpLoginReq)
		loginEnd(fromT, pdu.Target, pdu.OpLoginResp)
		params, err := neg.Params()
		if err != nil {
			t.Fatalf("capture %d: %v", i, err)
		}
		d := pdu.Digests{Header: params.HeaderDigest, Data: params.DataDigest}
		for off < len(toT) {
			p, n, err := pdu.Decode(toT[off:], d)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break // the connection is still open mid-PDU
			}
			if err != nil {
				t.Fatalf("capture %d at byte %d: %v", i, off, err)
			}
			if p.Opcode() == pdu.OpSCSICommand {
				cdb, err := p.CDB()
				if err != nil {
					t.Fatalf("capture %d: %v", i, err)
				}
				cdbs = append(cdbs, bytes.Clone(cdb))
			}
			off += n
		}
	}
	return cdbs
}

// runTool runs a command line tool and fails the test, naming the package
// to install, when it is missing.
func runTool(ctx context.Context, t *testing.T, pkg, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is missing: install Debian's %s (scripts/host-setup.sh does)", name, pkg)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// dialLUN logs in to a portal (the proxy or tgtd itself) as initiator name.
func dialLUN(ctx context.Context, t *testing.T, addr, iqn, name string, digests bool) *initiator.Conn {
	t.Helper()
	c, err := initiator.Dial(ctx, addr, initiator.Options{InitiatorName: name, TargetName: iqn,
		HeaderDigest: digests, DataDigest: digests, ImmediateData: true, Unsolicited: true})
	if err != nil {
		t.Fatalf("login to %s as %s: %v", addr, name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Persistent reservation commands (SPC-4 6.15, 6.16).
const (
	prRegister = 0x00
	prReserve  = 0x01
	prRelease  = 0x02
	// prWriteExclusive is the reservation type Write Exclusive.
	prWriteExclusive = 0x01
)

// prOut builds PERSISTENT RESERVE OUT and its 24-byte parameter list.
func prOut(sa, typ byte, key, sark uint64) (cdb, param []byte) {
	param = make([]byte, 24)
	binary.BigEndian.PutUint64(param, key)
	binary.BigEndian.PutUint64(param[8:], sark)
	cdb = []byte{0x5f, sa, typ, 0, 0, 0, 0, 0, 24, 0}
	return cdb, param
}

// doCmd sends a command and, like every initiator, repeats it after a unit
// attention (the first command of a new initiator gets POWER ON OR RESET).
func doCmd(ctx context.Context, t *testing.T, c *initiator.Conn, cdb, out []byte, in int) *initiator.Result {
	t.Helper()
	for range 5 {
		r, err := c.Command(ctx, initiator.LUN(1), cdb, out, in)
		if err != nil {
			t.Fatalf("command % x: %v", cdb, err)
		}
		if key, _, _ := r.SenseKey(); r.Status != pdu.StatusCheckCondition || key != 6 {
			return r
		}
	}
	t.Fatalf("command % x: unit attention five times", cdb)
	return nil
}

// readKeys lists the registered reservation keys (PERSISTENT RESERVE IN,
// READ KEYS).
func readKeys(ctx context.Context, t *testing.T, c *initiator.Conn) []uint64 {
	t.Helper()
	r := doCmd(ctx, t, c, []byte{0x5e, 0x00, 0, 0, 0, 0, 0, 0x04, 0x00, 0}, nil, 1024)
	if r.Status != pdu.StatusGood || len(r.Data) < 8 {
		t.Fatalf("READ KEYS: %v", r)
	}
	n := int(binary.BigEndian.Uint32(r.Data[4:]))
	var keys []uint64
	for off := 8; off+8 <= 8+n && off+8 <= len(r.Data); off += 8 {
		keys = append(keys, binary.BigEndian.Uint64(r.Data[off:]))
	}
	return keys
}

// readReservation returns the holder's key and the type of the LUN's
// persistent reservation, ok false when there is none.
func readReservation(ctx context.Context, t *testing.T, c *initiator.Conn) (key uint64, typ byte, ok bool) {
	t.Helper()
	r := doCmd(ctx, t, c, []byte{0x5e, 0x01, 0, 0, 0, 0, 0, 0x01, 0x00, 0}, nil, 256)
	if r.Status != pdu.StatusGood || len(r.Data) < 8 {
		t.Fatalf("READ RESERVATION: %v", r)
	}
	if binary.BigEndian.Uint32(r.Data[4:]) < 16 || len(r.Data) < 24 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(r.Data[8:]), r.Data[21] & 0x0f, true
}

// assertRefused checks a CHECK CONDITION with ILLEGAL REQUEST, INVALID
// COMMAND OPERATION CODE.
func assertRefused(t *testing.T, what string, r *initiator.Result) {
	t.Helper()
	if key, asc, ascq := r.SenseKey(); r.Status != pdu.StatusCheckCondition || key != pdu.SenseIllegalRequest || asc != pdu.ASCInvalidOpcode || ascq != 0 {
		t.Errorf("%s: %v, want CHECK CONDITION ILLEGAL REQUEST 0x20/0x00", what, r)
	}
}
