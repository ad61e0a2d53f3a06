// Package nfnl encodes and decodes nfnetlink messages (a netlink header, an
// nfgenmsg, attributes), the wire format shared by NFQUEUE (package
// nfqueue) and conntrack (package divert flushes connections with it).
// It does no I/O.
package nfnl

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

const (
	// HeaderLen is a netlink header and an nfgenmsg.
	HeaderLen = unix.NLMSG_HDRLEN + 4
	// AttrHeaderLen is the header of one attribute.
	AttrHeaderLen = 4
	attrTypeMask  = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// Align4 rounds n up to netlink's 4-byte alignment.
func Align4(n int) int { return (n + 3) &^ 3 }

// Type is the netlink message type of message msg of subsystem subsys.
func Type(subsys, msg uint8) uint16 { return uint16(subsys)<<8 | uint16(msg) }

// PutHeader writes a request's netlink header and nfgenmsg into b[:HeaderLen].
func PutHeader(b []byte, length int, typ uint16, flags uint16, seq uint32, family uint8, resID uint16) {
	binary.NativeEndian.PutUint32(b[0:4], uint32(length))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	binary.NativeEndian.PutUint32(b[12:16], 0)
	b[16] = family
	b[17] = unix.NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:20], resID)
}

// AppendAttr appends one attribute, padded to 4 bytes.
func AppendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(AttrHeaderLen+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Message is one netlink message cut from a datagram.
type Message struct {
	Type uint16
	Seq  uint32
	Body []byte // after the netlink header
	// Errno is an NLMSG_ERROR's error: 0 for an acknowledgement, else a
	// negative errno.
	Errno int32
}

// Next cuts the first netlink message off b and returns the rest.
func Next(b []byte) (Message, []byte, error) {
	if len(b) < unix.NLMSG_HDRLEN {
		return Message{}, nil, fmt.Errorf("netlink message of %d bytes is shorter than its header", len(b))
	}
	n := int(binary.NativeEndian.Uint32(b[0:4]))
	if n < unix.NLMSG_HDRLEN || n > len(b) {
		return Message{}, nil, fmt.Errorf("netlink message length %d outside 16..%d", n, len(b))
	}
	m := Message{
		Type: binary.NativeEndian.Uint16(b[4:6]),
		Seq:  binary.NativeEndian.Uint32(b[8:12]),
		Body: b[unix.NLMSG_HDRLEN:n],
	}
	if m.Type == unix.NLMSG_ERROR {
		if len(m.Body) < 4 {
			return Message{}, nil, fmt.Errorf("netlink error message of %d bytes", len(m.Body))
		}
		m.Errno = int32(binary.NativeEndian.Uint32(m.Body[0:4]))
	}
	return m, b[min(Align4(n), len(b)):], nil
}

// Attrs calls fn for each attribute in b (after the nfgenmsg, or inside a
// nested attribute) with its type, flags stripped, its value, and the whole
// attribute as sent. It stops at fn's first error.
func Attrs(b []byte, fn func(typ uint16, value, raw []byte) error) error {
	for len(b) >= AttrHeaderLen {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & attrTypeMask
		if l < AttrHeaderLen || l > len(b) {
			return fmt.Errorf("attribute %d length %d outside 4..%d", typ, l, len(b))
		}
		if err := fn(typ, b[AttrHeaderLen:l], b[:l]); err != nil {
			return err
		}
		b = b[min(Align4(l), len(b)):]
	}
	return nil
}
