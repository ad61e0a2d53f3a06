package nfnl

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAttrsRoundTrip(t *testing.T) {
	b := AppendAttr(nil, 1, []byte{1, 2, 3}) // padded to 8
	b = AppendAttr(b, 2|unix.NLA_F_NESTED, AppendAttr(nil, 3, []byte("nested")))
	b = AppendAttr(b, 4, nil)
	if len(b)%4 != 0 {
		t.Fatalf("%d bytes, not aligned", len(b))
	}
	type attr struct {
		typ   uint16
		value string
		raw   int
	}
	var got []attr
	if err := Attrs(b, func(typ uint16, v, raw []byte) error {
		got = append(got, attr{typ, string(v), len(raw)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []attr{{1, "\x01\x02\x03", 7}, {2, string(AppendAttr(nil, 3, []byte("nested"))), 16}, {4, "", 4}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attribute %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	bad := append([]byte(nil), b...)
	binary.NativeEndian.PutUint16(bad[0:2], 99)
	if err := Attrs(bad, func(uint16, []byte, []byte) error { return nil }); err == nil {
		t.Fatal("an attribute longer than the buffer was accepted")
	}
}

func TestHeaderAndNext(t *testing.T) {
	b := make([]byte, HeaderLen)
	b = AppendAttr(b, 1, []byte("x"))
	PutHeader(b, len(b), Type(1, 2), unix.NLM_F_ACK, 42, unix.AF_INET, 7)
	two := append(append([]byte(nil), b...), b...)
	m, rest, err := Next(two)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != 0x102 || m.Seq != 42 || len(m.Body) != len(b)-unix.NLMSG_HDRLEN || !bytes.Equal(rest, b) {
		t.Fatalf("message %+v, rest %d bytes", m, len(rest))
	}
	if fl := binary.NativeEndian.Uint16(b[6:8]); fl != unix.NLM_F_REQUEST|unix.NLM_F_ACK {
		t.Fatalf("flags %#x", fl)
	}
	if m.Body[0] != unix.AF_INET || binary.BigEndian.Uint16(m.Body[2:4]) != 7 {
		t.Fatalf("nfgenmsg % x", m.Body[:4])
	}
	for _, short := range [][]byte{b[:10], b[:HeaderLen]} {
		if _, _, err := Next(short); err == nil {
			t.Errorf("Next of %d bytes succeeded", len(short))
		}
	}
}
