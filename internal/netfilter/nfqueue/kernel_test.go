package nfqueue

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests run on the real kernel: an iptables rule queues UDP
// datagrams sent to a loopback socket. They need root and iptables and
// fail (never skip) without.

// udpQueue is a receiving UDP socket whose datagrams go through queue num.
type udpQueue struct {
	num  uint16
	recv *net.UDPConn
	send *net.UDPConn
}

func newUDPQueue(t *testing.T) *udpQueue {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("nfqueue kernel tests need root (iptables, NFQUEUE): running as uid %d", os.Geteuid())
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatalf("nfqueue kernel tests need iptables (installed by scripts/host-setup.sh): %v", err)
	}
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	send, err := net.DialUDP("udp4", nil, recv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Close() })
	u := &udpQueue{num: uint16(40000 + rand.IntN(10000)), recv: recv, send: send}
	rule := []string{"-p", "udp", "-d", "127.0.0.1/32",
		"--dport", strconv.Itoa(recv.LocalAddr().(*net.UDPAddr).Port),
		"-m", "comment", "--comment", "govirt-nfqueue-test", "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(u.num))}
	iptables(t, append([]string{"-t", "mangle", "-I", "OUTPUT"}, rule...)...)
	t.Cleanup(func() { iptables(t, append([]string{"-t", "mangle", "-D", "OUTPUT"}, rule...)...) })
	return u
}

func iptables(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"-w"}, args...)
	if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %v: %v: %s", args, err, out)
	}
}

func (u *udpQueue) open(t *testing.T) *Queue {
	t.Helper()
	q, err := Open(u.num)
	if err != nil {
		t.Fatalf("Open(%d): %v", u.num, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func (u *udpQueue) sendAll(t *testing.T, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if _, err := u.send.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func (u *udpQueue) receive(t *testing.T) string {
	t.Helper()
	b := make([]byte, 2048)
	n, err := u.recv.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// udpPayload returns the UDP payload of an IPv4 packet and clears the UDP
// checksum (optional in IPv4) so that the payload may be changed.
func udpPayload(t *testing.T, p Packet) []byte {
	t.Helper()
	ihl := int(p.Data[0]&0x0f) * 4
	if p.Data[0]>>4 != 4 || p.Data[9] != unix.IPPROTO_UDP || len(p.Data) < ihl+8 {
		t.Fatalf("queued packet is not IPv4 UDP: % x", p.Data)
	}
	p.Data[ihl+6], p.Data[ihl+7] = 0, 0
	return p.Data[ihl+8:]
}

func TestAcceptDropReplace(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	u.sendAll(t, "drop me", "keep", "abcd")
	for i, want := range []string{"drop me", "keep", "abcd"} {
		p, err := q.Read()
		if err != nil {
			t.Fatal(err)
		}
		payload := udpPayload(t, p)
		if string(payload) != want {
			t.Fatalf("packet %d carries %q, want %q", i, payload, want)
		}
		switch i {
		case 0:
			err = q.Verdict(p.ID, false, nil)
		case 1:
			err = q.Verdict(p.ID, true, nil)
		case 2:
			copy(payload, "wxyz")
			err = q.Verdict(p.ID, true, p.Data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The dropped datagram never arrives: the first to arrive is the second.
	if got := u.receive(t); got != "keep" {
		t.Fatalf("first datagram received %q, want keep", got)
	}
	if got := u.receive(t); got != "wxyz" {
		t.Fatalf("replaced datagram received as %q, want wxyz", got)
	}
}

func TestVerdictBatch(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	u.sendAll(t, "one", "two", "three")
	var vs []Verdict
	for range 3 {
		p, err := q.Read()
		if err != nil {
			t.Fatal(err)
		}
		// Data is valid until the next Read: keep a copy for the batch.
		v := Verdict{ID: p.ID, Accept: true}
		if string(udpPayload(t, p)) == "two" {
			v.Data = append([]byte(nil), p.Data...)
			copy(v.Data[len(v.Data)-3:], "TWO")
		}
		vs = append(vs, v)
	}
	if err := q.VerdictBatch(vs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "TWO", "three"} {
		if got := u.receive(t); got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	}
}

func TestRejectedVerdictIsReportedAndQueueKeepsWorking(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	if err := q.Verdict(0x7fffffff, true, nil); err != nil {
		t.Fatal(err)
	}
	u.sendAll(t, "after")
	_, err := q.Read()
	if !errors.Is(err, ErrRejected) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Read after a verdict for an unknown packet: %v, want ErrRejected and ENOENT", err)
	}
	p, err := q.Read()
	if err != nil {
		t.Fatal(err)
	}
	if string(udpPayload(t, p)) != "after" {
		t.Fatalf("packet %q", udpPayload(t, p))
	}
	if err := q.Verdict(p.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	if got := u.receive(t); got != "after" {
		t.Fatalf("received %q", got)
	}
}

func TestOverrunIsReportedAndQueueKeepsWorking(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	// A small receive buffer overflows after a few datagrams.
	if err := q.rc.Control(func(fd uintptr) {
		err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4096)
		if err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		u.sendAll(t, "datagram "+strconv.Itoa(i))
	}
	// Every datagram is queued or dropped by the time its send returns.
	// After an overflow the kernel delivers nothing new until the socket
	// is drained, so a probe sent after each packet read comes through
	// only once the reader has caught up.
	overruns, seen := 0, 0
	for {
		p, err := q.Read()
		if errors.Is(err, ErrOverrun) {
			overruns++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Verdict(p.ID, true, nil); err != nil {
			t.Fatal(err)
		}
		if string(udpPayload(t, p)) == "probe" {
			break
		}
		seen++
		u.sendAll(t, "probe")
	}
	if overruns == 0 || seen >= 200 {
		t.Fatalf("%d overrun errors, %d of 200 datagrams came through a 4 KiB buffer", overruns, seen)
	}
	t.Logf("%d of 200 datagrams came through, %d overrun errors", seen, overruns)
}

func TestCloseUnblocksRead(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	done := make(chan error, 1)
	go func() {
		_, err := q.Read()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Read block (it returns ErrClosed either way)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := q.Read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read on a closed queue: %v", err)
	}
	if err := q.Verdict(1, true, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Verdict on a closed queue: %v", err)
	}
	// The number is free again.
	q2, err := Open(u.num)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	q2.Close()
}

func TestOpenTwiceFails(t *testing.T) {
	u := newUDPQueue(t)
	u.open(t)
	if q, err := Open(u.num); err == nil {
		q.Close()
		t.Fatalf("a second Open of queue %d succeeded", u.num)
	}
}

func TestReadAllocatesNothing(t *testing.T) {
	u := newUDPQueue(t)
	q := u.open(t)
	u.sendAll(t, "warm up")
	p, err := q.Read()
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Verdict(p.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	u.receive(t)
	allocs := testing.AllocsPerRun(100, func() {
		u.sendAll(t, "x")
		p, err := q.Read()
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Verdict(p.ID, true, p.Data); err != nil {
			t.Fatal(err)
		}
		u.receive(t)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per datagram sent, read, given a verdict with data and received", allocs)
	}
}
