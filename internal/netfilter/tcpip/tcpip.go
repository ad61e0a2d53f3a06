// Package tcpip reads the IP and TCP headers of a packet handed over by
// NFQUEUE and rewrites TCP payload bytes in place with a correct TCP
// checksum, so that the SCSI guard can change a command without a proxy.
// It does no I/O.
package tcpip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// TCP header flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

const protoTCP = 6

// ErrNotTCP is returned by Parse for a packet that is not a whole, plain
// TCP segment (another protocol, an IPv4 fragment, IPv6 extension headers).
var ErrNotTCP = errors.New("not a plain TCP segment")

// Segment is where the headers of one IP packet carrying TCP put things.
type Segment struct {
	Version          int // 4 or 6
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	TCPOffset        int // start of the TCP header
	PayloadOffset    int // start of the TCP payload
	End              int // end of the IP packet (bytes after it are not part of it)
}

// Payload returns the TCP payload of pkt, which s was parsed from.
func (s Segment) Payload(pkt []byte) []byte { return pkt[s.PayloadOffset:s.End] }

// PayloadLen is the number of TCP payload bytes.
func (s Segment) PayloadLen() int { return s.End - s.PayloadOffset }

// Parse reads the IPv4 or IPv6 header and the TCP header at the start of pkt.
func Parse(pkt []byte) (Segment, error) {
	if len(pkt) < 1 {
		return Segment{}, errors.New("empty packet")
	}
	var s Segment
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return Segment{}, fmt.Errorf("IPv4 packet of %d bytes", len(pkt))
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if total == 0 { // a GSO packet beyond 64 KiB (BIG TCP) says 0
			total = len(pkt)
		}
		if ihl < 20 || total < ihl || total > len(pkt) {
			return Segment{}, fmt.Errorf("IPv4 header length %d, total length %d, packet %d bytes", ihl, total, len(pkt))
		}
		if pkt[9] != protoTCP {
			return Segment{}, fmt.Errorf("IPv4 protocol %d: %w", pkt[9], ErrNotTCP)
		}
		if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
			return Segment{}, fmt.Errorf("IPv4 fragment: %w", ErrNotTCP)
		}
		s.Version, s.TCPOffset, s.End = 4, ihl, total
		s.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		s.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	case 6:
		if len(pkt) < 40 {
			return Segment{}, fmt.Errorf("IPv6 packet of %d bytes", len(pkt))
		}
		total := 40 + int(binary.BigEndian.Uint16(pkt[4:6]))
		if total > len(pkt) {
			return Segment{}, fmt.Errorf("IPv6 total length %d, packet %d bytes", total, len(pkt))
		}
		if pkt[6] != protoTCP {
			return Segment{}, fmt.Errorf("IPv6 next header %d: %w", pkt[6], ErrNotTCP)
		}
		s.Version, s.TCPOffset, s.End = 6, 40, total
		s.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		s.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	default:
		return Segment{}, fmt.Errorf("IP version %d", pkt[0]>>4)
	}
	t := pkt[s.TCPOffset:s.End]
	if len(t) < 20 {
		return Segment{}, fmt.Errorf("TCP header cut short at %d bytes", len(t))
	}
	doff := int(t[12]>>4) * 4
	if doff < 20 || doff > len(t) {
		return Segment{}, fmt.Errorf("TCP data offset %d, segment %d bytes", doff, len(t))
	}
	s.SrcPort = binary.BigEndian.Uint16(t[0:2])
	s.DstPort = binary.BigEndian.Uint16(t[2:4])
	s.Seq = binary.BigEndian.Uint32(t[4:8])
	s.Ack = binary.BigEndian.Uint32(t[8:12])
	s.Flags = t[13]
	s.PayloadOffset = s.TCPOffset + doff
	return s, nil
}

// Rewrite overwrites payload bytes [off, off+len(b)) of pkt with b, in place,
// and keeps the TCP checksum right. checksumNotReady is the packet's
// nfqueue.Packet.ChecksumNotReady: its checksum field then holds only the
// pseudo-header sum, and since the kernel stops filling it in once a verdict
// replaces the packet, Rewrite computes the whole checksum. Otherwise it
// updates the field incrementally (RFC 1624), touching only the changed words.
func Rewrite(pkt []byte, s Segment, off int, b []byte, checksumNotReady bool) error {
	if off < 0 || off+len(b) > s.PayloadLen() {
		return fmt.Errorf("rewrite of payload bytes %d..%d outside the %d-byte payload", off, off+len(b), s.PayloadLen())
	}
	start := s.PayloadOffset + off
	if checksumNotReady {
		copy(pkt[start:], b)
		SetChecksum(pkt, s)
		return nil
	}
	// The changed bytes widened to whole 16-bit words of the segment (the
	// TCP header starts at an even offset).
	lo := start &^ 1
	hi := min((start+len(b)+1)&^1, s.End)
	before := fold(sum(pkt[lo:hi], 0))
	copy(pkt[start:], b)
	after := fold(sum(pkt[lo:hi], 0))
	field := pkt[s.TCPOffset+16 : s.TCPOffset+18]
	old := binary.BigEndian.Uint16(field)
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
	binary.BigEndian.PutUint16(field, ^fold(uint64(^old)+uint64(^before)+uint64(after)))
	return nil
}

// SetChecksum computes the TCP checksum of the segment from scratch and
// stores it.
func SetChecksum(pkt []byte, s Segment) {
	binary.BigEndian.PutUint16(pkt[s.TCPOffset+16:s.TCPOffset+18], 0)
	binary.BigEndian.PutUint16(pkt[s.TCPOffset+16:s.TCPOffset+18], ^fold(fullSum(pkt, s)))
}

// ChecksumValid tells whether the TCP checksum of the segment is complete and right.
func ChecksumValid(pkt []byte, s Segment) bool {
	return fold(fullSum(pkt, s)) == 0xffff
}

// fullSum is the ones' complement sum (unfolded) of the pseudo-header and
// the TCP segment as it stands, checksum field included.
func fullSum(pkt []byte, s Segment) uint64 {
	length := s.End - s.TCPOffset
	var acc uint64
	if s.Version == 4 {
		acc = sum(pkt[12:20], 0) // source and destination
	} else {
		acc = sum(pkt[8:40], 0)
	}
	acc += protoTCP + uint64(length)>>16 + uint64(length)&0xffff
	return sum(pkt[s.TCPOffset:s.End], acc)
}

// sum adds b, as big-endian 16-bit words (an odd last byte padded with a
// zero), to acc. It adds 32-bit words: 2^16 is 1 modulo 2^16-1, so their
// sum folds to the same ones' complement sum.
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 32 {
		acc += uint64(binary.BigEndian.Uint32(b[0:4])) + uint64(binary.BigEndian.Uint32(b[4:8])) +
			uint64(binary.BigEndian.Uint32(b[8:12])) + uint64(binary.BigEndian.Uint32(b[12:16])) +
			uint64(binary.BigEndian.Uint32(b[16:20])) + uint64(binary.BigEndian.Uint32(b[20:24])) +
			uint64(binary.BigEndian.Uint32(b[24:28])) + uint64(binary.BigEndian.Uint32(b[28:32]))
		b = b[32:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b[0:4]))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b[0:2]))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a sum to 16 bits with end-around carry.
func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
