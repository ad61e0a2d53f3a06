// Package nfqueue is a minimal client of the kernel's NFQUEUE (nfnetlink
// queue) over a raw netlink socket: it binds one queue, reads the packets the
// kernel queues to it and gives each a verdict, optionally with replaced bytes.
// The SCSI guard uses it to see the commands QEMU sends to an iSCSI target
// without a user-space TCP proxy; everything else stays in the kernel.
//
// The queue is bound fail-closed (no NFQA_CFG_F_FAIL_OPEN): when the queue is
// full, or nobody listens, the kernel drops packets instead of letting them
// pass unchecked.
//
// GSO packets arrive whole (NFQA_CFG_F_GSO), up to 64 KiB, so a bulk write
// costs one queued packet per 64 KiB rather than one per MSS: on a veth
// with MTU 1500, 575 MB/s against 37 MB/s with the kernel segmenting. But
// NFQUEUE copies at most 65531 bytes of a packet (NFQNL_MAX_COPY_RANGE):
// a bigger one arrives cut short and Read drops it (ErrOverrun), so the
// connection stalls on it. TCP builds GSO packets of at most
// max(gso_max_size / MSS, tcp_min_tso_segs=2) segments, which exceeds the
// limit on loopback (MSS 65483, packets up to 98,356 bytes seen) unless the
// MSS is lowered (package divert clamps it to 32000), and on any device
// with BIG TCP (gso_max_size or gso_ipv4_max_size above 65536).
// Options.Segment asks the kernel to segment GSO packets instead.
package nfqueue

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/govirt/govirt/internal/netfilter/nfnl"
	"golang.org/x/sys/unix"
)

// Packet is one queued packet; Data is the IP packet from its network header, valid until the next Read.
type Packet struct {
	ID   uint32
	Data []byte
	// ChecksumNotReady (NFQA_SKB_CSUMNOTREADY): the packet is CHECKSUM_PARTIAL, its
	// transport checksum field holds only the pseudo-header sum and the kernel (or
	// the NIC) would fill it in later. Beware: a verdict that replaces the packet
	// makes the kernel drop that promise (nfqnl_mangle sets CHECKSUM_NONE), so
	// replaced data must carry a complete, correct checksum; tcpip.Rewrite does that.
	ChecksumNotReady bool
}

// Verdict is one decision of a VerdictBatch.
type Verdict struct {
	ID     uint32
	Accept bool
	// Data, when not nil, replaces the packet (at most 65531 bytes).
	Data []byte
}

var (
	// ErrClosed is returned by Read and Verdict once the queue is closed.
	ErrClosed = errors.New("nfqueue: queue closed")
	// ErrOverrun means packets were lost before the reader saw them: the
	// socket's receive buffer overflowed (ENOBUFS), or the kernel could not
	// hand a packet over whole and this package dropped it. The kernel drops
	// such packets (the queue fails closed), TCP retransmits them. The Queue
	// keeps working.
	ErrOverrun = errors.New("nfqueue: packets lost")
	// ErrRejected means the kernel refused an earlier verdict (for example
	// ENOENT: no queued packet with that ID). The Queue keeps working.
	ErrRejected = errors.New("nfqueue: kernel refused a verdict")
)

const (
	queueMaxLen = 16384
	rcvBufBytes = 8 << 20
	sndBufBytes = 4 << 20
	recvBufSize = 1 << 17 // larger than any message: attribute lengths are 16 bits
	bindTimeout = 5 * time.Second

	maxIovs       = 1024    // IOV_MAX
	maxBatchBytes = 1 << 20 // well within the send buffer, which bounds one message batch
)

// Queue is one bound NFQUEUE. Read and Verdict must be called from one
// goroutine; Close may be called from any.
type Queue struct {
	num    uint16
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
	once   sync.Once

	rbuf  []byte
	rest  []byte   // messages of the last datagram not read yet
	early [][]byte // packet datagrams that arrived while Open waited for its acknowledgement
	rn    int
	rerr  error
	read  func(fd uintptr) bool

	seq   uint32
	hdrs  []byte // verdict headers of the batch being sent
	iov   []unix.Iovec
	one   [1]Verdict
	werr  unix.Errno
	write func(fd uintptr) bool
}

var zeroPad [4]byte

// Options tune OpenWith.
type Options struct {
	// Segment asks the kernel to segment GSO packets before queueing them
	// (no NFQA_CFG_F_GSO) and to complete their checksums: no packet is
	// ever too big for the queue, but there is one per MSS.
	Segment bool
	// WaitInThread makes Read wait for packets in poll(2) on the calling
	// thread instead of parking on the runtime's poller: a packet then
	// wakes its reader at once, which matters when every command of a
	// storage path waits for its verdict. Meant for a reader that locked
	// its goroutine to a thread of its own (runtime.LockOSThread); Close
	// is then noticed within closeCheck.
	WaitInThread bool
}

// closeCheck is how often a Read waiting in its thread checks for Close.
const closeCheck = 100 * time.Millisecond

// Open binds queue num for IPv4 and IPv6 packets, copying whole packets,
// GSO ones unsegmented, fail-closed, with a long kernel queue and a big
// receive buffer.
func Open(num uint16) (*Queue, error) { return OpenWith(num, Options{}) }

// OpenWith is Open with options.
func OpenWith(num uint16, o Options) (*Queue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d: netlink socket: %w", num, err)
	}
	if err := setupSocket(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nfqueue %d: %w", num, err)
	}
	q := &Queue{num: num, f: os.NewFile(uintptr(fd), "nfqueue"), rbuf: make([]byte, recvBufSize)}
	if q.rc, err = q.f.SyscallConn(); err != nil {
		q.f.Close()
		return nil, fmt.Errorf("nfqueue %d: %w", num, err)
	}
	q.read = func(fd uintptr) bool {
		for {
			q.rn, q.rerr = unix.Read(int(fd), q.rbuf)
			if q.rerr != unix.EAGAIN || !o.WaitInThread {
				return q.rerr != unix.EAGAIN
			}
			if q.closed.Load() {
				return false
			}
			// Sleep in poll(2) on this thread: the kernel wakes it directly,
			// without the runtime's poller and scheduler in between.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			_, _ = unix.Poll(pfd, int(closeCheck/time.Millisecond))
		}
	}
	q.write = func(fd uintptr) bool {
		var e unix.Errno
		_, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&q.iov[0])), uintptr(len(q.iov)))
		q.werr = e
		return e != unix.EAGAIN
	}
	if err := q.bind(!o.Segment); err != nil {
		q.f.Close()
		return nil, fmt.Errorf("nfqueue %d: bind: %w", num, err)
	}
	return q, nil
}

// setupSocket sizes the buffers and binds and connects the socket to the
// kernel, so that no other process's netlink socket can send to it.
func setupSocket(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBufBytes); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBufBytes); err != nil {
			return fmt.Errorf("receive buffer: %w", err)
		}
	}
	// A verdict with replaced data is up to 64 KiB and netlink refuses a
	// message larger than the send buffer.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBufBytes); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBufBytes); err != nil {
			return fmt.Errorf("send buffer: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netlink socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("connect netlink socket to the kernel: %w", err)
	}
	return nil
}

// bind sends the bind-and-configure message and waits for its
// acknowledgement, keeping packets that the kernel queues meanwhile.
func (q *Queue) bind(gso bool) error {
	q.seq++
	seq := q.seq
	if err := q.send(bindMessage(seq, q.num, queueMaxLen, gso)); err != nil {
		return err
	}
	if err := q.f.SetReadDeadline(time.Now().Add(bindTimeout)); err != nil {
		return err
	}
	defer q.f.SetReadDeadline(time.Time{})
	for {
		n, err := q.recv()
		if err != nil {
			return err
		}
		b := q.rbuf[:n]
		for len(b) > 0 {
			m, rest, err := nfnl.Next(b)
			if err != nil {
				return err
			}
			switch {
			case m.Type == unix.NLMSG_ERROR && m.Seq == seq:
				if m.Errno != 0 {
					return syscall.Errno(-m.Errno)
				}
				if len(rest) > 0 {
					q.early = append(q.early, append([]byte(nil), rest...))
				}
				return nil
			case isPacket(m):
				q.early = append(q.early, append([]byte(nil), b[:len(b)-len(rest)]...))
			}
			b = rest
		}
	}
}

// send writes one prepared message.
func (q *Queue) send(b []byte) error {
	q.iov = append(q.iov[:0], unix.Iovec{Base: &b[0]})
	q.iov[0].SetLen(len(b))
	return q.writev()
}

func (q *Queue) writev() error {
	if err := q.rc.Write(q.write); err != nil {
		// RawConn reports the poller's "use of closed file", not os.ErrClosed.
		if q.closed.Load() || errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	if q.werr != 0 {
		return q.werr
	}
	return nil
}

// recv reads one datagram into rbuf.
func (q *Queue) recv() (int, error) {
	if err := q.rc.Read(q.read); err != nil {
		if q.closed.Load() || errors.Is(err, os.ErrClosed) {
			return 0, ErrClosed
		}
		return 0, err
	}
	if q.rerr != nil {
		if q.rerr == unix.ENOBUFS {
			return 0, fmt.Errorf("nfqueue %d: receive buffer overflowed: %w", q.num, ErrOverrun)
		}
		return 0, fmt.Errorf("nfqueue %d: read: %w", q.num, q.rerr)
	}
	return q.rn, nil
}

// Read blocks until a packet is queued and returns it. Errors wrapping
// ErrOverrun or ErrRejected leave the Queue working; after Close it returns
// ErrClosed.
func (q *Queue) Read() (Packet, error) {
	for {
		if q.closed.Load() {
			return Packet{}, ErrClosed
		}
		if len(q.rest) == 0 {
			if len(q.early) > 0 {
				q.rest, q.early = q.early[0], q.early[1:]
			} else {
				n, err := q.recv()
				if err != nil {
					return Packet{}, err
				}
				q.rest = q.rbuf[:n]
			}
		}
		m, rest, err := nfnl.Next(q.rest)
		if err != nil {
			q.rest = nil
			return Packet{}, fmt.Errorf("nfqueue %d: %w", q.num, err)
		}
		q.rest = rest
		if m.Type == unix.NLMSG_ERROR && m.Errno != 0 {
			return Packet{}, fmt.Errorf("nfqueue %d: message %d: %w: %w", q.num, m.Seq, ErrRejected, syscall.Errno(-m.Errno))
		}
		if !isPacket(m) {
			continue
		}
		p, err := parsePacket(m.Body)
		if err != nil {
			return Packet{}, fmt.Errorf("nfqueue %d: %w", q.num, err)
		}
		if !p.hasPayload || int(p.capLen) > len(p.payload) {
			// The guard cannot judge what it cannot see: drop, TCP retransmits.
			if err := q.Verdict(p.id, false, nil); err != nil {
				return Packet{}, err
			}
			return Packet{}, fmt.Errorf("nfqueue %d: packet %d came with %d of %d bytes, dropped: %w",
				q.num, p.id, len(p.payload), p.capLen, ErrOverrun)
		}
		return Packet{ID: p.id, Data: p.payload, ChecksumNotReady: p.csumNotRdy}, nil
	}
}

// Verdict accepts or drops packet id; data, when not nil, replaces the
// packet (same length or not). The kernel then sends the packet's
// checksums as they are in data, even for a ChecksumNotReady packet whose
// bytes did not change: fix them (tcpip.Rewrite, tcpip.SetChecksum) or pass
// nil. One sendmsg, no acknowledgement: a refusal by the kernel shows up as
// an ErrRejected error from Read.
func (q *Queue) Verdict(id uint32, accept bool, data []byte) error {
	q.one[0] = Verdict{ID: id, Accept: accept, Data: data}
	err := q.VerdictBatch(q.one[:])
	q.one[0].Data = nil
	return err
}

// VerdictBatch sends several verdicts in one sendmsg (one netlink message
// each, so each may replace its packet); a batch beyond 1 MiB or 1024
// buffers takes more than one. The Data slices must stay valid until it
// returns.
func (q *Queue) VerdictBatch(vs []Verdict) error {
	const hl = verdictLen + nlaHdrLen
	if cap(q.hdrs) < len(vs)*hl {
		q.hdrs = make([]byte, len(vs)*hl)
	}
	q.iov = q.iov[:0]
	bytes := 0
	for i, v := range vs {
		if len(v.Data) > maxCopy {
			return fmt.Errorf("nfqueue %d: replacement of packet %d is %d bytes, more than %d", q.num, v.ID, len(v.Data), maxCopy)
		}
		if len(q.iov)+3 > maxIovs || bytes+hl+len(v.Data) > maxBatchBytes {
			if err := q.flushVerdicts(); err != nil {
				return err
			}
			bytes = 0
		}
		h := q.hdrs[i*hl : (i+1)*hl]
		q.seq++
		withData := v.Data != nil
		bytes += putVerdict(h, q.seq, q.num, v.ID, v.Accept, withData, len(v.Data))
		if !withData {
			q.addIov(h[:verdictLen])
			continue
		}
		q.addIov(h)
		if len(v.Data) > 0 {
			q.addIov(v.Data)
		}
		if pad := nfnl.Align4(len(v.Data)) - len(v.Data); pad > 0 {
			q.addIov(zeroPad[:pad])
		}
	}
	return q.flushVerdicts()
}

// flushVerdicts sends the verdicts gathered in iov.
func (q *Queue) flushVerdicts() error {
	if len(q.iov) == 0 {
		return nil
	}
	err := q.writev()
	q.iov = q.iov[:0]
	if err != nil {
		if err == ErrClosed {
			return err
		}
		return fmt.Errorf("nfqueue %d: verdict: %w", q.num, err)
	}
	return nil
}

func (q *Queue) addIov(b []byte) {
	q.iov = append(q.iov, unix.Iovec{Base: &b[0]})
	q.iov[len(q.iov)-1].SetLen(len(b))
}

// Close unbinds the queue and closes the socket; the kernel drops the
// packets still waiting for a verdict. It unblocks Read and is safe to call
// twice.
func (q *Queue) Close() error {
	var err error
	q.once.Do(func() {
		q.closed.Store(true)
		// Closing the socket alone releases the queue too; the explicit
		// unbind only makes it immediate. Its own buffer: Read and Verdict
		// may be running in another goroutine.
		msg := unbindMessage(0, q.num)
		_ = q.rc.Write(func(fd uintptr) bool {
			_, err := unix.Write(int(fd), msg)
			return err != unix.EAGAIN
		})
		err = q.f.Close()
	})
	return err
}
