package divert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/govirt/govirt/internal/netfilter/nfnl"
	"golang.org/x/sys/unix"
)

// ctnetlink wire constants (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ctMsgNew    = 0 // IPCTNL_MSG_CT_NEW: what a dump answers with, and an update of an entry
	ctMsgGet    = 1 // IPCTNL_MSG_CT_GET
	ctMsgDelete = 2 // IPCTNL_MSG_CT_DELETE

	ctaTupleOrig  = 1 // CTA_TUPLE_ORIG
	ctaTupleIP    = 1 // CTA_TUPLE_IP
	ctaTupleProto = 2 // CTA_TUPLE_PROTO
	ctaIPv4Dst    = 2 // CTA_IP_V4_DST
	ctaIPv6Dst    = 4 // CTA_IP_V6_DST
	ctaProtoNum   = 1 // CTA_PROTO_NUM
	ctaProtoDst   = 3 // CTA_PROTO_DST_PORT
)

// flushConnections deletes the conntrack entries of the TCP connections
// whose original destination is addr:port. A connection made through a
// front port keeps its DNAT in its conntrack entry after the DNAT rule is
// gone; without its entry, its next segment is a new flow to the front port,
// which nobody listens on, and both ends get a reset. Without this, an open
// connection would flow on, unguarded, once the queue rule is deleted.
func flushConnections(addr netip.Addr, port uint16) error {
	fd, err := ctSocket(10)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	family := uint8(unix.AF_INET)
	if addr.Is6() {
		family = unix.AF_INET6
	}
	req := make([]byte, nfnl.HeaderLen)
	nfnl.PutHeader(req, len(req), nfnl.Type(unix.NFNL_SUBSYS_CTNETLINK, ctMsgGet), unix.NLM_F_DUMP, 1, family, 0)
	if err := unix.Sendto(fd, req, 0, ctKernel); err != nil {
		return fmt.Errorf("divert: conntrack dump: %w", err)
	}
	var tuples [][]byte
	buf := make([]byte, 1<<16)
	for done := false; !done; {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
		if err != nil {
			return fmt.Errorf("divert: conntrack dump: %w", err)
		}
		if n > len(buf) {
			return fmt.Errorf("divert: conntrack dump message of %d bytes", n)
		}
		for b := buf[:n]; len(b) > 0; {
			m, rest, err := nfnl.Next(b)
			if err != nil {
				return fmt.Errorf("divert: conntrack dump: %w", err)
			}
			b = rest
			switch m.Type {
			case unix.NLMSG_DONE:
				done = true
			case unix.NLMSG_ERROR:
				if m.Errno != 0 {
					return fmt.Errorf("divert: conntrack dump: %w", unix.Errno(-m.Errno))
				}
			case nfnl.Type(unix.NFNL_SUBSYS_CTNETLINK, ctMsgNew):
				if len(m.Body) < 4 {
					continue
				}
				if raw, ok := matchOrigDst(m.Body[4:], addr, port); ok {
					tuples = append(tuples, bytes.Clone(raw))
				}
			}
		}
	}
	for i, raw := range tuples {
		msg := append(make([]byte, nfnl.HeaderLen), raw...)
		nfnl.PutHeader(msg, len(msg), nfnl.Type(unix.NFNL_SUBSYS_CTNETLINK, ctMsgDelete), unix.NLM_F_ACK, uint32(2+i), family, 0)
		// ENOENT: the connection ended meanwhile.
		if err := ctRequest(fd, msg, buf); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("divert: conntrack delete: %w", err)
		}
	}
	return nil
}

// matchOrigDst looks at the attributes of one conntrack entry and returns
// its whole CTA_TUPLE_ORIG attribute (what a delete request names the entry
// by) when the original direction is TCP to addr:port.
func matchOrigDst(attrs []byte, addr netip.Addr, port uint16) ([]byte, bool) {
	var raw []byte
	var dst netip.Addr
	var proto uint8
	var dport uint16
	_ = nfnl.Attrs(attrs, func(typ uint16, v, r []byte) error {
		if typ != ctaTupleOrig {
			return nil
		}
		raw = r
		return nfnl.Attrs(v, func(typ uint16, v, _ []byte) error {
			switch typ {
			case ctaTupleIP:
				return nfnl.Attrs(v, func(typ uint16, v, _ []byte) error {
					switch {
					case typ == ctaIPv4Dst && len(v) == 4:
						dst = netip.AddrFrom4([4]byte(v))
					case typ == ctaIPv6Dst && len(v) == 16:
						dst = netip.AddrFrom16([16]byte(v))
					}
					return nil
				})
			case ctaTupleProto:
				return nfnl.Attrs(v, func(typ uint16, v, _ []byte) error {
					switch {
					case typ == ctaProtoNum && len(v) >= 1:
						proto = v[0]
					case typ == ctaProtoDst && len(v) >= 2:
						dport = binary.BigEndian.Uint16(v)
					}
					return nil
				})
			}
			return nil
		})
	})
	ok := raw != nil && proto == unix.IPPROTO_TCP && dst == addr.Unmap() && dport == port
	return raw, ok
}

// LoginDoneMark is the conntrack mark bit the guard sets on a diverted
// connection once its login has ended: the login rule stops queueing the
// target's packets there. Queueing some of a flow's packets and not the
// next ones reorders them, which TCP takes for loss (measured: fast
// retransmits on every connection when the login window was counted in
// bytes); the target sends no Data-In before the initiator's first
// command, which comes after the final Login Response the guard sees.
const LoginDoneMark = 0x00400000

// More ctnetlink attributes.
const (
	ctaIPv4Src    = 1  // CTA_IP_V4_SRC
	ctaIPv6Src    = 3  // CTA_IP_V6_SRC
	ctaProtoSrc   = 2  // CTA_PROTO_SRC_PORT
	ctaMark       = 8  // CTA_MARK
	ctaMarkMask   = 21 // CTA_MARK_MASK: on an update, the bits CTA_MARK sets
	nlaFlagNested = 0x8000
)

// MarkLoginDone sets LoginDoneMark on the conntrack entry of the TCP
// connection from initiator to front (its original destination, the front
// port), leaving the mark's other bits alone.
func MarkLoginDone(initiator, front netip.AddrPort) error {
	fd, err := ctSocket(5)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	src, dst := initiator.Addr().Unmap(), front.Addr().Unmap()
	family, srcType, dstType := uint8(unix.AF_INET), uint16(ctaIPv4Src), uint16(ctaIPv4Dst)
	if src.Is6() {
		family, srcType, dstType = unix.AF_INET6, ctaIPv6Src, ctaIPv6Dst
	}
	ip := nfnl.AppendAttr(nfnl.AppendAttr(nil, srcType, src.AsSlice()), dstType, dst.AsSlice())
	proto := nfnl.AppendAttr(nil, ctaProtoNum, []byte{unix.IPPROTO_TCP})
	proto = nfnl.AppendAttr(proto, ctaProtoSrc, binary.BigEndian.AppendUint16(nil, initiator.Port()))
	proto = nfnl.AppendAttr(proto, ctaProtoDst, binary.BigEndian.AppendUint16(nil, front.Port()))
	tuple := nfnl.AppendAttr(nfnl.AppendAttr(nil, ctaTupleIP|nlaFlagNested, ip), ctaTupleProto|nlaFlagNested, proto)
	msg := nfnl.AppendAttr(make([]byte, nfnl.HeaderLen), ctaTupleOrig|nlaFlagNested, tuple)
	msg = nfnl.AppendAttr(msg, ctaMark, binary.BigEndian.AppendUint32(nil, LoginDoneMark))
	msg = nfnl.AppendAttr(msg, ctaMarkMask, binary.BigEndian.AppendUint32(nil, LoginDoneMark))
	nfnl.PutHeader(msg, len(msg), nfnl.Type(unix.NFNL_SUBSYS_CTNETLINK, ctMsgNew), unix.NLM_F_ACK, 1, family, 0)
	if err := ctRequest(fd, msg, make([]byte, 4096)); err != nil {
		return fmt.Errorf("divert: conntrack mark of %v -> %v: %w", initiator, front, err)
	}
	return nil
}

// ctKernel is the kernel's netlink address.
var ctKernel = &unix.SockaddrNetlink{Family: unix.AF_NETLINK}

// ctSocket opens a netlink socket to conntrack whose reads give up after
// timeoutSec seconds.
func ctSocket(timeoutSec int64) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return -1, fmt.Errorf("divert: conntrack socket: %w", err)
	}
	err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: timeoutSec})
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("divert: conntrack socket: %w", err)
	}
	return fd, nil
}

// ctRequest sends one request that asks for an acknowledgement and returns
// the kernel's refusal, if any, as its errno.
func ctRequest(fd int, msg, buf []byte) error {
	if err := unix.Sendto(fd, msg, 0, ctKernel); err != nil {
		return err
	}
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	m, _, err := nfnl.Next(buf[:n])
	if err != nil {
		return err
	}
	if m.Type == unix.NLMSG_ERROR && m.Errno != 0 {
		return unix.Errno(-m.Errno)
	}
	return nil
}
