package nfqueue

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/govirt/govirt/internal/netfilter/nfnl"
	"golang.org/x/sys/unix"
)

// attrs splits the attributes after a netlink header and nfgenmsg.
func attrs(t *testing.T, msg []byte) map[uint16][]byte {
	t.Helper()
	out := map[uint16][]byte{}
	b := msg[msgHdrLen:]
	for len(b) > 0 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			t.Fatalf("attribute length %d in %d bytes", l, len(b))
		}
		out[binary.NativeEndian.Uint16(b[2:4])] = b[4:l]
		b = b[min(nfnl.Align4(l), len(b)):]
	}
	return out
}

func TestBindMessage(t *testing.T) {
	for _, gso := range []bool{false, true} {
		m := bindMessage(7, 0x1234, 16384, gso)
		if got := int(binary.NativeEndian.Uint32(m[0:4])); got != len(m) || len(m)%4 != 0 {
			t.Fatalf("length field %d, message %d bytes", got, len(m))
		}
		if typ := binary.NativeEndian.Uint16(m[4:6]); typ != 3<<8|2 {
			t.Fatalf("type %#x, want NFNL_SUBSYS_QUEUE<<8|NFQNL_MSG_CONFIG", typ)
		}
		if fl := binary.NativeEndian.Uint16(m[6:8]); fl != unix.NLM_F_REQUEST|unix.NLM_F_ACK {
			t.Fatalf("flags %#x", fl)
		}
		if seq := binary.NativeEndian.Uint32(m[8:12]); seq != 7 {
			t.Fatalf("seq %d", seq)
		}
		if res := binary.BigEndian.Uint16(m[18:20]); res != 0x1234 {
			t.Fatalf("res_id %#x, want the queue number big-endian", res)
		}
		a := attrs(t, m)
		wantFlags := []byte{0, 0, 0, 0}
		if gso {
			wantFlags = []byte{0, 0, 0, 4}
		}
		want := map[uint16][]byte{
			cfgCmd:    {cmdBind, 0, 0, 0},
			cfgParams: {0, 0, 0xff, 0xfb, copyPacket}, // range 65531, NFQNL_COPY_PACKET
			cfgMaxLen: {0, 0, 0x40, 0},
			cfgMask:   {0, 0, 0, 5}, // GSO and FAIL_OPEN
			cfgFlags:  wantFlags,    // never FAIL_OPEN
		}
		for k, v := range want {
			if !bytes.Equal(a[k], v) {
				t.Errorf("gso %v: attribute %d = %v, want %v", gso, k, a[k], v)
			}
		}
	}
}

func TestUnbindMessage(t *testing.T) {
	m := unbindMessage(0, 3)
	if a := attrs(t, m); !bytes.Equal(a[cfgCmd], []byte{cmdUnbind, 0, 0, 0}) {
		t.Fatalf("command %v", a[cfgCmd])
	}
}

func TestPutVerdict(t *testing.T) {
	tests := []struct {
		name     string
		accept   bool
		withData bool
		dataLen  int
		wantLen  int
		verdict  byte
	}{
		{"drop", false, false, 0, 32, 0},
		{"accept", true, false, 0, 32, 1},
		{"accept with 5 bytes", true, true, 5, 32 + 12, 1},
		{"accept with 8 bytes", true, true, 8, 32 + 12, 1},
		{"accept with empty data", true, true, 0, 36, 1},
	}
	for _, tt := range tests {
		b := make([]byte, verdictLen+nlaHdrLen)
		n := putVerdict(b, 9, 0x0102, 0xdeadbeef, tt.accept, tt.withData, tt.dataLen)
		if n != tt.wantLen || int(binary.NativeEndian.Uint32(b[0:4])) != n {
			t.Errorf("%s: length %d (field %d), want %d", tt.name, n, binary.NativeEndian.Uint32(b[0:4]), tt.wantLen)
		}
		if typ := binary.NativeEndian.Uint16(b[4:6]); typ != 3<<8|1 {
			t.Errorf("%s: type %#x", tt.name, typ)
		}
		if fl := binary.NativeEndian.Uint16(b[6:8]); fl != unix.NLM_F_REQUEST {
			t.Errorf("%s: flags %#x: a verdict asks for no acknowledgement", tt.name, fl)
		}
		wantHdr := binary.NativeEndian.AppendUint16(nil, 12)
		wantHdr = binary.NativeEndian.AppendUint16(wantHdr, attrVerdictHdr)
		wantHdr = append(wantHdr, 0, 0, 0, tt.verdict, 0xde, 0xad, 0xbe, 0xef)
		if !bytes.Equal(b[20:32], wantHdr) {
			t.Errorf("%s: verdict attribute %v, want %v", tt.name, b[20:32], wantHdr)
		}
		if tt.withData {
			if l, typ := binary.NativeEndian.Uint16(b[32:34]), binary.NativeEndian.Uint16(b[34:36]); int(l) != 4+tt.dataLen || typ != attrPayload {
				t.Errorf("%s: payload attribute length %d type %d", tt.name, l, typ)
			}
		}
	}
}

// kernelPacket builds an NFQNL_MSG_PACKET as the kernel sends it.
func kernelPacket(id uint32, payload []byte, skbInfo uint32, capLen uint32) []byte {
	b := make([]byte, msgHdrLen, 256)
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, 3) // hw_protocol ETH_P_IP, hook LOCAL_OUT
	b = nfnl.AppendAttr(b, attrPacketHdr, hdr)
	b = nfnl.AppendAttr(b, 6, be32(1)) // NFQA_IFINDEX_OUTDEV, ignored
	if capLen != 0 {
		b = nfnl.AppendAttr(b, attrCapLen, be32(capLen))
	}
	if skbInfo != 0 {
		b = nfnl.AppendAttr(b, attrSkbInfo, be32(skbInfo))
	}
	if payload != nil {
		b = nfnl.AppendAttr(b, attrPayload, payload)
	}
	putHeader(b, len(b), msgPacket, 0, 0, 5)
	return b
}

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		want    packetFields
		wantErr bool
	}{
		{"plain", kernelPacket(42, []byte("abcde"), 0, 0),
			packetFields{id: 42, queue: 5, hasID: true, payload: []byte("abcde"), hasPayload: true}, false},
		{"checksum not ready", kernelPacket(1, []byte("x"), 1|2, 0),
			packetFields{id: 1, queue: 5, hasID: true, payload: []byte("x"), hasPayload: true, csumNotRdy: true}, false},
		{"cut short", kernelPacket(2, []byte("xy"), 0, 70000),
			packetFields{id: 2, queue: 5, hasID: true, payload: []byte("xy"), hasPayload: true, capLen: 70000}, false},
		{"no payload", kernelPacket(3, nil, 0, 0), packetFields{id: 3, queue: 5, hasID: true}, false},
		{"no packet header", func() []byte {
			b := make([]byte, msgHdrLen)
			b = nfnl.AppendAttr(b, attrPayload, []byte("x"))
			putHeader(b, len(b), msgPacket, 0, 0, 5)
			return b
		}(), packetFields{}, true},
		{"attribute overruns", func() []byte {
			b := kernelPacket(4, []byte("abc"), 0, 0)
			binary.NativeEndian.PutUint16(b[msgHdrLen:], 200)
			return b
		}(), packetFields{}, true},
	}
	for _, tt := range tests {
		m, rest, err := nfnl.Next(tt.msg)
		if err != nil || len(rest) != 0 || !isPacket(m) {
			t.Fatalf("%s: nextMessage: %v, rest %d, packet %v", tt.name, err, len(rest), isPacket(m))
		}
		got, err := parsePacket(m.Body)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err %v, want error %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if got.id != tt.want.id || got.queue != tt.want.queue || got.hasPayload != tt.want.hasPayload ||
			!bytes.Equal(got.payload, tt.want.payload) || got.capLen != tt.want.capLen || got.csumNotRdy != tt.want.csumNotRdy {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestNextMessage(t *testing.T) {
	ack := make([]byte, 36)
	binary.NativeEndian.PutUint32(ack[0:4], 36)
	binary.NativeEndian.PutUint16(ack[4:6], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(ack[8:12], 77)
	refused := append([]byte(nil), ack...)
	binary.NativeEndian.PutUint32(refused[16:20], uint32(0xfffffffe)) // -ENOENT
	two := append(kernelPacket(1, []byte("abc"), 0, 0), refused...)

	m, rest, err := nfnl.Next(two)
	if err != nil || !isPacket(m) {
		t.Fatalf("first: %+v %v", m, err)
	}
	m, rest, err = nfnl.Next(rest)
	if err != nil || m.Type != unix.NLMSG_ERROR || m.Errno != -2 || m.Seq != 77 || len(rest) != 0 {
		t.Fatalf("second: %+v rest %d %v", m, len(rest), err)
	}
	if m, _, err := nfnl.Next(ack); err != nil || m.Errno != 0 {
		t.Fatalf("acknowledgement: %+v %v", m, err)
	}
	for _, bad := range [][]byte{ack[:10], ack[:20]} {
		if _, _, err := nfnl.Next(bad); err == nil {
			t.Errorf("nextMessage of %d bytes (length field 36) succeeded", len(bad))
		}
	}
}
