package guard

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/netfilter/nfqueue"
	"github.com/govirt/govirt/internal/netfilter/tcpip"
)

// fakeQueue records verdicts (the kernel side is tested in
// internal/netfilter and end to end against tgtd).
type fakeQueue struct {
	verdicts map[uint32]fakeVerdict
}

type fakeVerdict struct {
	accept bool
	data   []byte
}

func (q *fakeQueue) Read() (nfqueue.Packet, error) { return nfqueue.Packet{}, nfqueue.ErrClosed }
func (q *fakeQueue) Close() error                  { return nil }
func (q *fakeQueue) Verdict(id uint32, accept bool, data []byte) error {
	if _, dup := q.verdicts[id]; dup {
		panic("two verdicts for one packet")
	}
	q.verdicts[id] = fakeVerdict{accept: accept, data: append([]byte(nil), data...)}
	return nil
}

var (
	qemuEnd   = netip.MustParseAddrPort("192.0.2.10:40000")
	frontEnd  = netip.MustParseAddrPort("192.0.2.20:23260")
	portalEnd = netip.MustParseAddrPort("192.0.2.20:3260")
)

// ipv4TCP builds a packet with a correct TCP checksum.
func ipv4TCP(src, dst netip.AddrPort, seq uint32, flags byte, payload []byte) []byte {
	pkt := make([]byte, 20+20+len(payload))
	pkt[0], pkt[9] = 0x45, 6
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(pkt[12:], s4[:])
	copy(pkt[16:], d4[:])
	t := pkt[20:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12], t[13] = 5<<4, flags|0x10
	copy(t[20:], payload)
	seg, err := tcpip.Parse(pkt)
	if err != nil {
		panic(err)
	}
	tcpip.SetChecksum(pkt, seg)
	return pkt
}

// checksumOK verifies a TCP checksum the way a receiver does.
func checksumOK(pkt []byte) bool {
	seg, err := tcpip.Parse(pkt)
	return err == nil && tcpip.ChecksumValid(pkt, seg)
}

func TestGuardRewritesQueuedPackets(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{Header: true})
	q := &fakeQueue{verdicts: map[uint32]fakeVerdict{}}
	g := newGuard(Config{Target: portalEnd, FrontPort: frontEnd.Port(), Queue: 7}, q)
	var id uint32
	send := func(src, dst netip.AddrPort, seq uint32, flags byte, payload []byte, csumNotReady bool) uint32 {
		id++
		g.packet(nfqueue.Packet{ID: id, Data: ipv4TCP(src, dst, seq, flags, payload), ChecksumNotReady: csumNotReady}, time.Now())
		return id
	}
	send(qemuEnd, frontEnd, isnI, tcpip.FlagSYN, nil, false)
	send(portalEnd, qemuEnd, isnT, tcpip.FlagSYN, nil, false) // the SYN-ACK, before the reply is un-NATed
	send(qemuEnd, frontEnd, isnI+1, 0, tr.login, false)
	send(portalEnd, qemuEnd, isnT+1, 0, tr.loginResp, false)
	// The commands in segments of 100 bytes; every other one with the
	// checksum left to the kernel.
	var got []byte
	var ids []uint32
	for i := 0; i < len(tr.commands); i += 100 {
		seg := tr.commands[i:min(i+100, len(tr.commands))]
		ids = append(ids, send(qemuEnd, frontEnd, isnI+1+uint32(len(tr.login)+i), 0, seg, len(ids)%2 == 1))
	}
	if len(q.verdicts) != int(id) {
		t.Fatalf("%d verdicts for %d packets", len(q.verdicts), id)
	}
	for i, pid := range ids {
		v := q.verdicts[pid]
		if !v.accept {
			t.Fatalf("packet %d dropped", pid)
		}
		seg := tr.commands[i*100 : min(i*100+100, len(tr.commands))]
		if v.data == nil {
			got = append(got, seg...)
			continue
		}
		if !checksumOK(v.data) {
			t.Errorf("packet %d: rewritten with a wrong TCP checksum", pid)
		}
		got = append(got, v.data[40:]...)
	}
	if !bytes.Equal(got, tr.want[len(tr.login):]) {
		t.Fatalf("the target would get\n%x\nwant\n%x", got, tr.want[len(tr.login):])
	}
	st := g.Stats()
	if st.Connections != 1 || st.Commands != 7 || st.Refused != 4 || st.LastRefused.Code != 0xc1 {
		t.Fatalf("stats %+v", st)
	}
	// A stranger's segment (no SYN seen) is dropped; a new SYN from the
	// same port starts a new connection.
	if pid := send(netip.MustParseAddrPort("192.0.2.10:40001"), frontEnd, 5, 0, []byte("x"), false); q.verdicts[pid].accept {
		t.Fatal("a segment of an unknown connection passed")
	}
	send(qemuEnd, frontEnd, 77, tcpip.FlagSYN, nil, false)
	if g.Stats().Connections != 2 {
		t.Fatal("a new SYN did not start a new connection")
	}
}
