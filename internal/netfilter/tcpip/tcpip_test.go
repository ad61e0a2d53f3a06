package tcpip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"pgregory.net/rapid"
)

// packet builds an IP packet carrying one TCP segment with a correct
// checksum, computed here the slow, obvious way.
type packet struct {
	v6       bool
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	seq, ack uint32
	flags    uint8
	options  int // bytes of TCP options (a multiple of 4)
	payload  []byte
}

func (p packet) build() []byte {
	tcpLen := 20 + p.options + len(p.payload)
	var b []byte
	if !p.v6 {
		b = make([]byte, 20, 20+tcpLen)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:4], uint16(20+tcpLen))
		b[8], b[9] = 64, protoTCP
		copy(b[12:16], p.src.AsSlice())
		copy(b[16:20], p.dst.AsSlice())
	} else {
		b = make([]byte, 40, 40+tcpLen)
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:6], uint16(tcpLen))
		b[6], b[7] = protoTCP, 64
		copy(b[8:24], p.src.AsSlice())
		copy(b[24:40], p.dst.AsSlice())
	}
	t := make([]byte, 20+p.options)
	binary.BigEndian.PutUint16(t[0:2], p.sport)
	binary.BigEndian.PutUint16(t[2:4], p.dport)
	binary.BigEndian.PutUint32(t[4:8], p.seq)
	binary.BigEndian.PutUint32(t[8:12], p.ack)
	t[12] = byte((20+p.options)/4) << 4
	t[13] = p.flags
	for i := 20; i < len(t); i++ {
		t[i] = 1 // NOP options
	}
	b = append(b, t...)
	b = append(b, p.payload...)
	off := len(b) - tcpLen
	binary.BigEndian.PutUint16(b[off+16:off+18], slowChecksum(b, p.v6, off))
	return b
}

// slowChecksum is RFC 793's checksum word by word, with the field as zero.
func slowChecksum(b []byte, v6 bool, off int) uint16 {
	var pseudo []byte
	tcpLen := len(b) - off
	if !v6 {
		pseudo = append(pseudo, b[12:20]...)
		pseudo = append(pseudo, 0, protoTCP, byte(tcpLen>>8), byte(tcpLen))
	} else {
		pseudo = append(pseudo, b[8:40]...)
		pseudo = append(pseudo, 0, 0, byte(tcpLen>>8), byte(tcpLen), 0, 0, 0, protoTCP)
	}
	seg := append([]byte(nil), b[off:]...)
	seg[16], seg[17] = 0, 0
	all := append(pseudo, seg...)
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

var (
	v4a = netip.MustParseAddr("192.0.2.1")
	v4b = netip.MustParseAddr("198.51.100.7")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8::2")
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		p    packet
	}{
		{"IPv4 pure ACK", packet{src: v4a, dst: v4b, sport: 40000, dport: 3260, seq: 1, ack: 2, flags: FlagACK}},
		{"IPv4 SYN with options", packet{src: v4a, dst: v4b, sport: 1, dport: 2, seq: 0xfffffff0, flags: FlagSYN, options: 20}},
		{"IPv4 data", packet{src: v4a, dst: v4b, sport: 5, dport: 6, seq: 7, ack: 8, flags: FlagACK | FlagPSH, options: 12, payload: []byte("hello")}},
		{"IPv6 data", packet{v6: true, src: v6a, dst: v6b, sport: 5, dport: 6, seq: 7, ack: 8, flags: FlagACK, payload: []byte("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.p.build()
			s, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			ipLen := 20
			if tt.p.v6 {
				ipLen = 40
			}
			want := Segment{
				Version: 4, Src: tt.p.src, Dst: tt.p.dst, SrcPort: tt.p.sport, DstPort: tt.p.dport,
				Seq: tt.p.seq, Ack: tt.p.ack, Flags: tt.p.flags,
				TCPOffset: ipLen, PayloadOffset: ipLen + 20 + tt.p.options, End: len(b),
			}
			if tt.p.v6 {
				want.Version = 6
			}
			if s != want {
				t.Fatalf("Parse = %+v, want %+v", s, want)
			}
			if !bytes.Equal(s.Payload(b), tt.p.payload) || s.PayloadLen() != len(tt.p.payload) {
				t.Fatalf("payload %q, want %q", s.Payload(b), tt.p.payload)
			}
			if !ChecksumValid(b, s) {
				t.Fatal("checksum of a built packet is not valid")
			}
		})
	}
}

func TestParseIgnoresBytesAfterTheIPPacket(t *testing.T) {
	b := packet{src: v4a, dst: v4b, flags: FlagACK, payload: []byte("ab")}.build()
	s, err := Parse(append(b, 0, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Payload(b)) != "ab" {
		t.Fatalf("payload %q", s.Payload(b))
	}
}

func TestParseErrors(t *testing.T) {
	good := packet{src: v4a, dst: v4b, flags: FlagACK, payload: []byte("abc")}.build()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name   string
		pkt    []byte
		notTCP bool
	}{
		{"empty", nil, false},
		{"short IPv4", good[:19], false},
		{"IP version 5", mod(func(b []byte) []byte { b[0] = 0x55; return b }), false},
		{"IHL 4", mod(func(b []byte) []byte { b[0] = 0x44; return b }), false},
		{"total length beyond packet", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:4], 200); return b }), false},
		{"UDP", mod(func(b []byte) []byte { b[9] = 17; return b }), true},
		{"fragment", mod(func(b []byte) []byte { b[6] = 0x20; return b }), true},
		{"TCP header cut", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:4], 30); return b }), false},
		{"data offset 4", mod(func(b []byte) []byte { b[32] = 0x40; return b }), false},
		{"data offset beyond", mod(func(b []byte) []byte { b[32] = 0xf0; return b }), false},
		{"short IPv6", packet{v6: true, src: v6a, dst: v6b}.build()[:39], false},
		{"IPv6 extension header", func() []byte {
			b := packet{v6: true, src: v6a, dst: v6b}.build()
			b[6] = 0 // hop-by-hop
			return b
		}(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.pkt)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if got := errors.Is(err, ErrNotTCP); got != tt.notTCP {
				t.Fatalf("errors.Is(%v, ErrNotTCP) = %v, want %v", err, got, tt.notTCP)
			}
		})
	}
}

func TestParseBigTCPZeroLength(t *testing.T) {
	b := packet{src: v4a, dst: v4b, flags: FlagACK, payload: make([]byte, 100)}.build()
	binary.BigEndian.PutUint16(b[2:4], 0)
	s, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.PayloadLen() != 100 {
		t.Fatalf("payload %d bytes, want 100", s.PayloadLen())
	}
}

func TestRewrite(t *testing.T) {
	payload := []byte("0123456789abcdefghi") // odd length: the last word is padded
	tests := []struct {
		name string
		v6   bool
		off  int
		b    string
	}{
		{"one byte at even offset", false, 0, "X"},
		{"one byte at odd offset", false, 1, "X"},
		{"span crossing words", false, 3, "WXYZ"},
		{"last byte, odd length", false, 18, "X"},
		{"whole payload", false, 0, "ABCDEFGHIJKLMNOPQRS"},
		{"unchanged bytes", false, 4, "45"},
		{"IPv6 odd offset", true, 7, "XYZ"},
	}
	for _, tt := range tests {
		for _, notReady := range []bool{false, true} {
			p := packet{v6: tt.v6, src: v4a, dst: v4b, sport: 1, dport: 2, flags: FlagACK, options: 12, payload: payload}
			if tt.v6 {
				p.src, p.dst = v6a, v6b
			}
			b := p.build()
			s, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if notReady {
				// A CHECKSUM_PARTIAL packet holds only the pseudo-header sum.
				binary.BigEndian.PutUint16(b[s.TCPOffset+16:], 0x1234)
			}
			if err := Rewrite(b, s, tt.off, []byte(tt.b), notReady); err != nil {
				t.Fatalf("%s (not ready %v): %v", tt.name, notReady, err)
			}
			want := append([]byte(nil), payload...)
			copy(want[tt.off:], tt.b)
			if !bytes.Equal(s.Payload(b), want) {
				t.Fatalf("%s: payload %q, want %q", tt.name, s.Payload(b), want)
			}
			if got, want := binary.BigEndian.Uint16(b[s.TCPOffset+16:]), slowChecksum(b, tt.v6, s.TCPOffset); got != want {
				t.Fatalf("%s (not ready %v): checksum %#04x, want %#04x", tt.name, notReady, got, want)
			}
		}
	}
}

func TestRewriteOutsidePayload(t *testing.T) {
	b := packet{src: v4a, dst: v4b, flags: FlagACK, payload: []byte("abc")}.build()
	s, _ := Parse(b)
	for _, off := range []int{-1, 3, 2} {
		if err := Rewrite(b, s, off, []byte("xy"), false); err == nil {
			t.Errorf("Rewrite at %d of a 3-byte payload succeeded", off)
		}
	}
}

// The incremental update always agrees with the checksum computed from scratch.
func TestRewriteIncrementalMatchesFull(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		payload := rapid.SliceOfN(rapid.Byte(), 1, 3000).Draw(t, "payload")
		off := rapid.IntRange(0, len(payload)-1).Draw(t, "off")
		repl := rapid.SliceOfN(rapid.Byte(), 0, len(payload)-off).Draw(t, "repl")
		opts := 4 * rapid.IntRange(0, 10).Draw(t, "options")
		b := packet{src: v4a, dst: v4b, sport: 9, dport: 10, flags: FlagACK, options: opts, payload: payload}.build()
		s, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := Rewrite(b, s, off, repl, false); err != nil {
			t.Fatal(err)
		}
		if got, want := binary.BigEndian.Uint16(b[s.TCPOffset+16:]), slowChecksum(b, false, s.TCPOffset); got != want {
			t.Fatalf("incremental checksum %#04x, full %#04x", got, want)
		}
	})
}

func BenchmarkRewriteIncremental(b *testing.B) {
	pkt := packet{src: v4a, dst: v4b, flags: FlagACK, options: 12, payload: make([]byte, 48)}.build()
	s, _ := Parse(pkt)
	for b.Loop() {
		Rewrite(pkt, s, 1, []byte{0x2a}, false)
	}
}

func BenchmarkSetChecksum64K(b *testing.B) {
	pkt := packet{src: v4a, dst: v4b, flags: FlagACK, options: 12, payload: make([]byte, 64000)}.build()
	s, _ := Parse(pkt)
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		SetChecksum(pkt, s)
	}
}

// Parse and Rewrite never panic, and a rewrite keeps a valid checksum valid.
func FuzzParseRewrite(f *testing.F) {
	f.Add(packet{src: v4a, dst: v4b, flags: FlagACK, options: 12, payload: []byte("hello")}.build(), 1, []byte("X"))
	f.Add(packet{v6: true, src: v6a, dst: v6b, flags: FlagSYN}.build(), 0, []byte{})
	f.Add([]byte{0x45, 0, 0, 0}, 0, []byte("Y"))
	f.Fuzz(func(t *testing.T, pkt []byte, off int, b []byte) {
		s, err := Parse(pkt)
		if err != nil {
			return
		}
		valid := ChecksumValid(pkt, s)
		if err := Rewrite(pkt, s, off, b, false); err != nil {
			return
		}
		if valid && !ChecksumValid(pkt, s) {
			t.Fatalf("rewrite of %d bytes at %d broke a valid checksum", len(b), off)
		}
		SetChecksum(pkt, s)
		if !ChecksumValid(pkt, s) {
			t.Fatal("SetChecksum left an invalid checksum")
		}
	})
}
