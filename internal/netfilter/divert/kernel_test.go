package divert_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/netfilter/divert"
	"github.com/govirt/govirt/internal/netfilter/nfqueue"
	"github.com/govirt/govirt/internal/netfilter/tcpip"
)

// These tests run on the real kernel: iptables rules, NFQUEUE, loopback TCP.
// They need root and the iptables command, and fail (never skip) without.

func requireKernel(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("divert kernel tests need root (iptables rules, NFQUEUE): running as uid %d", os.Geteuid())
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("divert kernel tests need %s (Debian package iptables, installed by scripts/host-setup.sh): %v", bin, err)
		}
	}
}

// freePort returns a TCP port of addr nobody listens on.
func freePort(tb testing.TB, addr string) uint16 {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// setup is one divert on loopback: a target listener and the rules.
type setup struct {
	d      divert.Divert
	target net.Listener
}

// newSetup diverts a front port of addr (127.0.0.1 or ::1) to a target
// listening on addr.
func newSetup(tb testing.TB, addr string) *setup {
	tb.Helper()
	requireKernel(tb)
	target, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { target.Close() })
	s := &setup{
		target: target,
		d: divert.Divert{
			Target:    target.Addr().(*net.TCPAddr).AddrPort(),
			FrontPort: freePort(tb, addr),
			Queue:     uint16(50000 + rand.IntN(10000)), // apart from the nfqueue tests (40000-49999) and the agent (below)
		},
	}
	ctx := context.Background()
	if err := divert.Add(ctx, s.d); err != nil {
		tb.Fatalf("Add(%+v): %v", s.d, err)
	}
	tb.Cleanup(func() {
		if err := divert.Delete(context.Background(), s.d); err != nil {
			tb.Errorf("Delete(%+v): %v", s.d, err)
		}
	})
	return s
}

func (s *setup) front() string {
	return netip.AddrPortFrom(s.d.Target.Addr(), s.d.FrontPort).String()
}

// connect dials the front port and accepts the target's side.
func (s *setup) connect(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := s.target.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", s.front())
	if err != nil {
		tb.Fatalf("dial front port %s: %v", s.front(), err)
	}
	server, ok := <-accepted
	if !ok {
		tb.Fatal("target accept failed")
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	// Bytes that never come fail the test instead of hanging it.
	deadline := time.Now().Add(2 * time.Minute)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	return client, server
}

// guard is a stand-in for the SCSI guard: it accepts every packet and
// rewrites each 'X' of a payload to 'Y', keeping the checksum right.
type guard struct {
	q          *nfqueue.Queue
	done       chan error
	packets    atomic.Int64 // queued packets
	payload    atomic.Int64 // of which carried payload
	pureAcks   atomic.Int64 // of which had neither payload nor SYN: must stay 0
	syns       atomic.Int64
	synAckMSS  atomic.Int64 // the MSS option of the last SYN-ACK
	replies    atomic.Int64 // the target's packets (its first bytes: the login), not counted above
	front      uint16
	notReady   atomic.Int64 // of which came with ChecksumNotReady
	rewritten  atomic.Int64
	maxLen     atomic.Int64
	overrunErr atomic.Int64
	buf        []byte
}

func startGuard(tb testing.TB, d divert.Divert) *guard {
	num := d.Queue
	tb.Helper()
	// Loopback, as the guard does it: segments near 64 KiB, GSO packets
	// segmented by the kernel before they are queued.
	q, err := nfqueue.OpenWith(num, nfqueue.Options{Segment: true})
	if err != nil {
		tb.Fatalf("nfqueue.Open(%d): %v", num, err)
	}
	g := &guard{q: q, front: d.FrontPort, done: make(chan error, 1)}
	go func() { g.done <- g.run() }()
	tb.Cleanup(func() { g.stop(tb) })
	return g
}

func (g *guard) run() error {
	for {
		p, err := g.q.Read()
		if errors.Is(err, nfqueue.ErrClosed) {
			return nil
		}
		if errors.Is(err, nfqueue.ErrOverrun) {
			g.overrunErr.Add(1)
			continue
		}
		if err != nil {
			return err
		}
		if seg, err := tcpip.Parse(p.Data); err == nil && seg.DstPort != g.front {
			g.replies.Add(1)
			if seg.Flags&tcpip.FlagSYN != 0 {
				g.synAckMSS.Store(int64(mssOption(p.Data[seg.TCPOffset+20 : seg.PayloadOffset])))
			}
			if err := g.q.Verdict(p.ID, true, nil); err != nil {
				return err
			}
			continue
		}
		g.packets.Add(1)
		if int64(len(p.Data)) > g.maxLen.Load() {
			g.maxLen.Store(int64(len(p.Data)))
		}
		if p.ChecksumNotReady {
			g.notReady.Add(1)
		}
		seg, err := tcpip.Parse(p.Data)
		if err != nil {
			return err
		}
		payload := seg.Payload(p.Data)
		if seg.Flags&tcpip.FlagSYN != 0 {
			g.syns.Add(1)
		}
		if len(payload) > 0 {
			g.payload.Add(1)
		} else if seg.Flags&tcpip.FlagSYN == 0 {
			g.pureAcks.Add(1)
		}
		var data []byte
		if i := bytes.IndexByte(payload, 'X'); i >= 0 {
			// One rewrite of the span from the first X: with
			// ChecksumNotReady each Rewrite sums the whole packet.
			g.buf = append(g.buf[:0], payload[i:]...)
			for j, c := range g.buf {
				if c == 'X' {
					g.buf[j] = 'Y'
				}
			}
			if err := tcpip.Rewrite(p.Data, seg, i, g.buf, p.ChecksumNotReady); err != nil {
				return err
			}
			g.rewritten.Add(1)
			data = p.Data
		}
		if err := g.q.Verdict(p.ID, true, data); err != nil {
			return err
		}
	}
}

func (g *guard) stop(tb testing.TB) {
	tb.Helper()
	if err := g.q.Close(); err != nil {
		tb.Errorf("Close: %v", err)
	}
	if err := <-g.done; err != nil {
		tb.Errorf("guard: %v", err)
	}
	g.done <- nil // a second stop returns at once
}

func TestDivertRewritesQueuedPayloadAndFailsClosed(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) { testDivert(t, addr) })
	}
}

func testDivert(t *testing.T, addr string) {
	s := newSetup(t, addr)
	g := startGuard(t, s.d)
	client, server := s.connect(t)

	// A request through the guard arrives rewritten; the reply comes back.
	req := []byte("SCSI command X with X twice")
	if _, err := client.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(req))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("target read: %v", err)
	}
	if want := bytes.ReplaceAll(req, []byte("X"), []byte("Y")); !bytes.Equal(got, want) {
		t.Fatalf("target received %q, want %q", got, want)
	}
	if _, err := server.Write([]byte("status")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 6)
	if _, err := io.ReadFull(client, reply); err != nil || string(reply) != "status" {
		t.Fatalf("client read %q, %v; want status", reply, err)
	}
	if g.rewritten.Load() == 0 {
		t.Fatal("the guard rewrote no packet")
	}
	if g.syns.Load() == 0 {
		t.Fatal("the SYN of the connection was not queued")
	}
	// The target's SYN-ACK (queued by the login rule) announces the
	// clamped MSS, so that the initiator's segments fit in the queue.
	if mss := g.synAckMSS.Load(); mss != 65000 {
		t.Fatalf("the queued SYN-ACK announces MSS %d, want it clamped to 65000", mss)
	}

	// The target's first bytes are queued (its login answers), then no more.
	if g.replies.Load() == 0 {
		t.Fatal("the target's first reply was not queued")
	}
	go func() { server.Write(make([]byte, 256<<10)) }()
	if _, err := io.ReadFull(client, make([]byte, 256<<10)); err != nil {
		t.Fatalf("read: %v", err)
	}
	replies := g.replies.Load()

	// A bulk transfer from the target: the client only ACKs, and pure ACKs
	// are not queued.
	before := g.packets.Load()
	segsBefore := segsOut(t, client)
	const bulk = 16 << 20
	go func() { server.Write(make([]byte, bulk)) }()
	if _, err := io.ReadFull(client, make([]byte, bulk)); err != nil {
		t.Fatalf("bulk read: %v", err)
	}
	acks := segsOut(t, client) - segsBefore
	if acks == 0 {
		t.Fatal("the client sent no segment during the bulk transfer: TCP_INFO broken?")
	}
	if queued := g.packets.Load() - before; queued != 0 {
		t.Fatalf("%d packets queued during a bulk transfer to the client, whose %d segments were all pure ACKs", queued, acks)
	}
	if n := g.pureAcks.Load(); n != 0 {
		t.Fatalf("%d pure ACKs were queued", n)
	}
	// The kernel may hand over one early segment of the target's late
	// (seen here: the first one after the window opened, its bytes already
	// delivered); the stream of 16 MiB itself stays out of the queue.
	if n := g.replies.Load() - replies; n > 2 {
		t.Fatalf("%d of the target's packets queued after its first 64 KiB", n)
	}

	// Bulk data from the client (iSCSI writes) goes through the queue whole.
	big := bytes.Repeat([]byte("abcdefgX"), 1<<20)
	go func() { client.Write(big) }()
	got = make([]byte, len(big))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("target bulk read: %v", err)
	}
	if !bytes.Equal(got, bytes.ReplaceAll(big, []byte("X"), []byte("Y"))) {
		t.Fatal("bulk data from the client arrived altered other than X to Y")
	}
	t.Logf("queued %d packets (%d with payload, %d checksum-not-ready, largest %d bytes), %d overrun errors",
		g.packets.Load(), g.payload.Load(), g.notReady.Load(), g.maxLen.Load(), g.overrunErr.Load())

	// Fail closed: with the rules in place and no reader, nothing reaches
	// the target. The bytes sent meanwhile arrive once a reader is back,
	// retransmitted, and only then.
	g.stop(t)
	var reopened atomic.Bool
	arrived := make(chan bool, 1)
	go func() {
		b := make([]byte, 5)
		_, err := io.ReadFull(server, b)
		arrived <- err == nil && reopened.Load() && string(b) == "after"
	}()
	if _, err := client.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // room for the bytes to leak if the queue failed open
	reopened.Store(true)
	startGuard(t, s.d)
	if ok := <-arrived; !ok {
		t.Fatal("bytes sent while no reader was bound reached the target before the queue was reopened (fail open), or never arrived")
	}

	// Delete: the open connection is cut (not left to flow on unguarded),
	// List no longer shows the divert and the front port is refused.
	if err := divert.Delete(context.Background(), s.d); err != nil {
		t.Fatal(err)
	}
	// Either side may already have been reset by the other's segment: the
	// writes may fail, the reads must.
	client.Write([]byte("late"))
	server.Write([]byte("y"))
	client.SetReadDeadline(time.Now().Add(30 * time.Second)) // against a hang only
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := server.Read(make([]byte, 16)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("target read on its connection after Delete: %d bytes, %v; want the connection reset", n, err)
	}
	if n, err := client.Read(make([]byte, 16)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read on its connection after Delete: %d bytes, %v; want the connection reset", n, err)
	}
	list, err := divert.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d == s.d {
			t.Fatalf("List still shows %+v after Delete", d)
		}
	}
	c, err := net.Dial("tcp", s.front())
	if err == nil {
		c.Close()
		t.Fatalf("dial %s after Delete connected, want refused", s.front())
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s after Delete: %v, want connection refused", s.front(), err)
	}
}

// mssOption returns the MSS option among TCP options, 0 without one.
func mssOption(opts []byte) int {
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return 0
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			return 0
		}
		if opts[0] == 2 && opts[1] == 4 {
			return int(opts[2])<<8 | int(opts[3])
		}
		opts = opts[opts[1]:]
	}
	return 0
}

// segsOut is the number of segments the connection has sent (TCP_INFO).
func segsOut(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var segs uint32
	var serr error
	err = raw.Control(func(fd uintptr) {
		info, err := unixTCPInfo(int(fd))
		segs, serr = info, err
	})
	if err != nil || serr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, serr)
	}
	return segs
}

func TestAddIsIdempotentAndListed(t *testing.T) {
	s := newSetup(t, "127.0.0.1")
	ctx := context.Background()
	if err := divert.Add(ctx, s.d); err != nil {
		t.Fatalf("second Add: %v", err)
	}
	list, err := divert.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range list {
		if d == s.d {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("List shows %+v %d times after two Adds, want once; all: %+v", s.d, n, list)
	}
	// Add of the same front port to another target port replaces the DNAT rule.
	moved := s.d
	moved.Target = netip.AddrPortFrom(s.d.Target.Addr(), max(s.d.Target.Port()+1, 1)) // 65535+1 wraps to 0
	if err := divert.Add(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if list, err = divert.List(ctx); err != nil {
		t.Fatal(err)
	}
	var mine []divert.Divert
	for _, d := range list {
		if d.FrontPort == s.d.FrontPort && d.Queue == s.d.Queue {
			mine = append(mine, d)
		}
	}
	if len(mine) != 1 || mine[0] != moved {
		t.Fatalf("after Add(%+v) over %+v, List shows %+v", moved, s.d, mine)
	}

	// Delete goes by address, front port and queue: a Divert naming another
	// target port (the LUN moved while the agent was down) still removes
	// the DNAT rule, which must never stay without its queue rule.
	if err := divert.Delete(ctx, s.d); err != nil {
		t.Fatal(err)
	}
	list, err = divert.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.FrontPort == s.d.FrontPort && d.Queue == s.d.Queue {
			t.Fatalf("List shows %+v after Delete(%+v)", d, s.d)
		}
	}
	if err := divert.Delete(ctx, s.d); err != nil {
		t.Fatalf("Delete of a deleted divert: %v", err)
	}
}
