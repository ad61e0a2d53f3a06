package divert

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/govirt/govirt/internal/netfilter/nfnl"
	"golang.org/x/sys/unix"
)

// ctEntry builds the attributes of a conntrack dump entry as the kernel
// nests them: CTA_TUPLE_ORIG { CTA_TUPLE_IP { src, dst }, CTA_TUPLE_PROTO
// { num, sport, dport } }, then a reply tuple and a status.
func ctEntry(src, dst netip.Addr, proto uint8, sport, dport uint16) (attrs, orig []byte) {
	tuple := func(src, dst netip.Addr, sport, dport uint16) []byte {
		srcType, dstType := uint16(1), uint16(ctaIPv4Dst)
		if dst.Is6() {
			srcType, dstType = 3, ctaIPv6Dst
		}
		ip := nfnl.AppendAttr(nil, srcType, src.AsSlice())
		ip = nfnl.AppendAttr(ip, dstType, dst.AsSlice())
		p := nfnl.AppendAttr(nil, ctaProtoNum, []byte{proto})
		p = nfnl.AppendAttr(p, 2, binary.BigEndian.AppendUint16(nil, sport))
		p = nfnl.AppendAttr(p, ctaProtoDst, binary.BigEndian.AppendUint16(nil, dport))
		t := nfnl.AppendAttr(nil, ctaTupleIP|unix.NLA_F_NESTED, ip)
		return nfnl.AppendAttr(t, ctaTupleProto|unix.NLA_F_NESTED, p)
	}
	orig = nfnl.AppendAttr(nil, ctaTupleOrig|unix.NLA_F_NESTED, tuple(src, dst, sport, dport))
	attrs = append([]byte(nil), orig...)
	attrs = nfnl.AppendAttr(attrs, 2|unix.NLA_F_NESTED, tuple(dst, src, 3260, sport)) // CTA_TUPLE_REPLY after DNAT
	attrs = nfnl.AppendAttr(attrs, 3, []byte{0, 0, 1, 0x8e})                          // CTA_STATUS
	return attrs, orig
}

func TestMatchOrigDst(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")
	other := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		dport    uint16
		addr     netip.Addr
		port     uint16
		match    bool
	}{
		{"through the front port", lo, lo, unix.IPPROTO_TCP, 40001, lo, 40001, true},
		{"IPv6 through the front port", lo6, lo6, unix.IPPROTO_TCP, 40001, lo6, 40001, true},
		{"IPv4-mapped divert address", lo, lo, unix.IPPROTO_TCP, 40001, netip.MustParseAddr("::ffff:127.0.0.1"), 40001, true},
		{"another port", lo, lo, unix.IPPROTO_TCP, 40002, lo, 40001, false},
		{"another address", lo, other, unix.IPPROTO_TCP, 40001, lo, 40001, false},
		{"UDP", lo, lo, unix.IPPROTO_UDP, 40001, lo, 40001, false},
	}
	for _, tt := range tests {
		attrs, orig := ctEntry(tt.src, tt.dst, tt.proto, 51000, tt.dport)
		raw, ok := matchOrigDst(attrs, tt.addr, tt.port)
		if ok != tt.match {
			t.Errorf("%s: match %v, want %v", tt.name, ok, tt.match)
		}
		if ok && !bytes.Equal(raw, orig) {
			t.Errorf("%s: tuple % x, want the whole CTA_TUPLE_ORIG % x", tt.name, raw, orig)
		}
	}
	if _, ok := matchOrigDst([]byte{1, 2, 3}, lo, 1); ok {
		t.Error("garbage matched")
	}
}
