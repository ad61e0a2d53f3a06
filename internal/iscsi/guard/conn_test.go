package guard

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

const isnI, isnT = 0xfffffff0, 1000 // the initiator's wraps inside the login

// transcript is one connection: what each side sends, in order, and what
// the target must receive from the initiator (refused opcodes replaced).
type transcript struct {
	login, loginResp, commands []byte
	want                       []byte // login + commands as the target gets them
	refused                    int
}

// pduBytes encodes p with digests d.
func pduBytes(t testing.TB, p *pdu.PDU, d pdu.Digests) []byte {
	t.Helper()
	b, err := p.Encode(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loginPDU(op pdu.Opcode, final bool, text string) *pdu.PDU {
	p := &pdu.PDU{Data: []byte(text)}
	p.SetOpcode(op, op == pdu.OpLoginReq)
	p.BHS[1] = 1 << 2 // CSG operational
	if final {
		p.BHS[1] |= pdu.FlagTransit | pdu.StageFullFeature
	}
	return p
}

func commandPDU(itt uint32, cdb, data []byte) *pdu.PDU {
	p := &pdu.PDU{Data: data}
	p.SetOpcode(pdu.OpSCSICommand, false)
	p.BHS[1] = pdu.FlagFinal
	if len(data) > 0 {
		p.BHS[1] |= pdu.FlagWrite
	}
	p.SetLUN(1 << 48)
	p.SetU32(pdu.OffITT, itt)
	p.SetU32(pdu.OffField1, uint32(len(data)))
	p.SetCDB(cdb)
	return p
}

// newTranscript builds a login that ends with the digests d, then commands
// that filtered allows and refuses, with data, AHS and other PDUs between.
func newTranscript(t testing.TB, d pdu.Digests) transcript {
	t.Helper()
	digest := func(on bool) string {
		if on {
			return "CRC32C"
		}
		return "None"
	}
	var tr transcript
	tr.login = append(pduBytes(t, loginPDU(pdu.OpLoginReq, false, "InitiatorName=iqn.2026-11.org.govirt:test\x00"+
		"HeaderDigest=None,CRC32C\x00DataDigest=None,CRC32C\x00"), pdu.Digests{}),
		pduBytes(t, loginPDU(pdu.OpLoginReq, true, ""), pdu.Digests{})...)
	tr.loginResp = append(pduBytes(t, loginPDU(pdu.OpLoginResp, false,
		"HeaderDigest="+digest(d.Header)+"\x00DataDigest="+digest(d.Data)+"\x00"), pdu.Digests{}),
		pduBytes(t, loginPDU(pdu.OpLoginResp, true, ""), pdu.Digests{})...)
	filtered := scsipolicy.Filtered()
	long := make([]byte, 32)
	long[0], long[7] = 0x7f, 24 // a variable-length CDB (READ(32)-like): its rest goes in an AHS
	nop := &pdu.PDU{Data: []byte("ping")}
	nop.SetOpcode(pdu.OpNOPOut, true)
	dataOut := &pdu.PDU{Data: bytes.Repeat([]byte{0x3b}, 700)}
	dataOut.SetOpcode(pdu.OpDataOut, false)
	pdus := []*pdu.PDU{
		commandPDU(1, []byte{0x12, 0, 0, 0, 96, 0}, nil),                                     // INQUIRY
		commandPDU(2, []byte{0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}, make([]byte, 24)),         // PR OUT REGISTER
		commandPDU(3, []byte{0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0}, bytes.Repeat([]byte{1}, 512)), // WRITE(10)
		nop,
		commandPDU(4, []byte{0x3b, 0x05, 0, 0, 0, 0, 0, 2, 0, 0}, bytes.Repeat([]byte{0x12}, 301)), // WRITE BUFFER
		dataOut,
		commandPDU(5, long, nil),
		commandPDU(6, []byte{0xc1}, nil), // vendor specific
		commandPDU(7, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, nil), // READ(10)
	}
	tr.want = append([]byte(nil), tr.login...)
	for _, p := range pdus {
		b := pduBytes(t, p, d)
		tr.commands = append(tr.commands, b...)
		if p.Opcode() == pdu.OpSCSICommand && !filtered.Decide(p.BHS[pdu.OffCDB:pdu.OffCDB+16]).Allow {
			tr.refused++
			q := *p
			q.BHS[pdu.OffCDB] = refusedOpcode
			b = pduBytes(t, &q, d)
		}
		tr.want = append(tr.want, b...)
	}
	if tr.refused != 4 {
		t.Fatalf("the transcript has %d commands filtered refuses, want 4", tr.refused)
	}
	return tr
}

// wire feeds a connection's segments to a Conn like the queue does and
// keeps what passes, by stream offset, per direction.
type wire struct {
	t       testing.TB
	c       *Conn
	id      uint32
	pending map[uint32]segment
	got     [2][]byte
	drops   int
}

type segment struct {
	dir     Dir
	off     int
	payload []byte
}

func newWire(t testing.TB, pol **scsipolicy.Policy) *wire {
	w := &wire{t: t, pending: map[uint32]segment{}}
	w.c = NewConn(func() *scsipolicy.Policy { return *pol }, nil)
	w.syn(FromInitiator)
	w.syn(FromTarget)
	return w
}

func isn(dir Dir) uint32 {
	if dir == FromTarget {
		return isnT
	}
	return isnI
}

func (w *wire) syn(dir Dir) {
	w.id++
	w.apply(w.c.Segment(dir, w.id, isn(dir), true, nil))
}

// send queues payload as the segment at stream offset off.
func (w *wire) send(dir Dir, off int, payload []byte) {
	w.id++
	w.pending[w.id] = segment{dir: dir, off: off, payload: append([]byte(nil), payload...)}
	w.apply(w.c.Segment(dir, w.id, isn(dir)+1+uint32(off), false, payload))
}

func (w *wire) apply(vs []Verdict) {
	for _, v := range vs {
		seg, ok := w.pending[v.ID]
		delete(w.pending, v.ID)
		if v.Drop {
			w.drops++
			continue
		}
		if !ok {
			continue // a SYN
		}
		for _, e := range v.Edits {
			copy(seg.payload[e.Off:], e.Data)
		}
		out := &w.got[seg.dir]
		if end := seg.off + len(seg.payload); end > len(*out) {
			*out = append(*out, make([]byte, end-len(*out))...)
		}
		copy((*out)[seg.off:], seg.payload)
	}
}

// sendAll sends b from stream offset off in segments of size n.
func (w *wire) sendAll(dir Dir, off int, b []byte, n int) {
	for i := 0; i < len(b); i += n {
		w.send(dir, off+i, b[i:min(i+n, len(b))])
	}
}

func TestRefusedCommandsRewrittenWhereverSegmentsSplit(t *testing.T) {
	for _, d := range []pdu.Digests{{}, {Header: true}, {Header: true, Data: true}} {
		tr := newTranscript(t, d)
		for _, n := range []int{1, 2, 3, 5, 31, 47, 48, 49, 52, 100, 999, 1 << 20} {
			t.Run(fmt.Sprintf("digests=%v/segment=%d", d, n), func(t *testing.T) {
				pol := scsipolicy.Filtered()
				w := newWire(t, &pol)
				w.sendAll(FromInitiator, 0, tr.login, n)
				w.sendAll(FromTarget, 0, tr.loginResp, n)
				w.sendAll(FromInitiator, len(tr.login), tr.commands, n)
				if err := w.c.Err(); err != nil {
					t.Fatal(err)
				}
				if w.drops != 0 || len(w.pending) != 0 {
					t.Fatalf("%d packets dropped, %d without a verdict", w.drops, len(w.pending))
				}
				if !bytes.Equal(w.got[FromInitiator], tr.want) {
					t.Fatalf("the target would get\n%x\nwant\n%x", w.got[FromInitiator], tr.want)
				}
				if !bytes.Equal(w.got[FromTarget], tr.loginResp) {
					t.Fatal("the target's login answer was changed")
				}
			})
		}
	}
}

func TestPoliciesDecideEveryCommand(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{})
	pol := scsipolicy.Unfiltered()
	w := newWire(t, &pol)
	var seen, refused int
	w.c.onCommand = func(d scsipolicy.Decision, lun uint64) {
		seen++
		if !d.Allow {
			refused++
		}
		if lun != 1<<48 {
			t.Errorf("lun %#x", lun)
		}
	}
	w.sendAll(FromInitiator, 0, tr.login, 1000)
	w.sendAll(FromTarget, 0, tr.loginResp, 1000)
	w.sendAll(FromInitiator, len(tr.login), tr.commands, 1000)
	if seen != 7 || refused != 0 {
		t.Fatalf("unfiltered: %d commands seen, %d refused; want 7, 0", seen, refused)
	}
	if !bytes.Equal(w.got[FromInitiator], append(append([]byte(nil), tr.login...), tr.commands...)) {
		t.Fatal("unfiltered changed the stream")
	}
	// Changed live: the same connection's next commands follow the new one.
	pol = scsipolicy.Filtered()
	w.sendAll(FromInitiator, len(tr.login)+len(tr.commands), tr.commands, 1000)
	if seen != 14 || refused != 4 {
		t.Fatalf("after the change to filtered: %d seen, %d refused; want 14, 4", seen, refused)
	}
}

func TestRetransmissionGetsTheSameRewrite(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{Header: true})
	pol := scsipolicy.Filtered()
	w := newWire(t, &pol)
	w.sendAll(FromInitiator, 0, tr.login, 4096)
	w.sendAll(FromTarget, 0, tr.loginResp, 4096)
	w.sendAll(FromInitiator, len(tr.login), tr.commands, 4096)
	// TCP sends the commands again, cut elsewhere; and once overlapping
	// new bytes.
	w.got[FromInitiator] = w.got[FromInitiator][:len(tr.login)]
	w.sendAll(FromInitiator, len(tr.login), tr.commands, 77)
	if !bytes.Equal(w.got[FromInitiator], tr.want) || w.drops != 0 {
		t.Fatalf("retransmitted commands passed as\n%x\nwant\n%x (%d drops)", w.got[FromInitiator], tr.want, w.drops)
	}
}

func TestGapIsDroppedUntilFilled(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{})
	pol := scsipolicy.Filtered()
	w := newWire(t, &pol)
	w.sendAll(FromInitiator, 0, tr.login, 4096)
	w.sendAll(FromTarget, 0, tr.loginResp, 4096)
	at := len(tr.login)
	w.send(FromInitiator, at+100, tr.commands[100:])
	if w.drops != 1 {
		t.Fatalf("a segment after a gap: %d drops, want 1", w.drops)
	}
	w.send(FromInitiator, at, tr.commands[:100])
	w.send(FromInitiator, at+100, tr.commands[100:])
	if !bytes.Equal(w.got[FromInitiator], tr.want) || w.c.Err() != nil {
		t.Fatalf("after the gap was filled: err %v, stream equal %v", w.c.Err(), bytes.Equal(w.got[FromInitiator], tr.want))
	}
}

func TestConnectionStops(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{})
	redirect := loginPDU(pdu.OpLoginResp, false, "TargetAddress=10.0.0.9:3260,1\x00")
	redirect.BHS[36], redirect.BHS[37] = 1, 1
	for _, c := range []struct {
		name string
		run  func(w *wire)
	}{
		{"target redirects the login", func(w *wire) {
			w.sendAll(FromInitiator, 0, tr.login, 4096)
			w.send(FromTarget, 0, pduBytes(t, redirect, pdu.Digests{}))
		}},
		{"commands before the target's answer", func(w *wire) {
			w.sendAll(FromInitiator, 0, tr.login, 4096)
			w.send(FromInitiator, len(tr.login), tr.commands)
		}},
		{"not an initiator's opcode", func(w *wire) {
			w.sendAll(FromInitiator, 0, tr.login, 4096)
			w.sendAll(FromTarget, 0, tr.loginResp, 4096)
			w.send(FromInitiator, len(tr.login), pduBytes(t, loginPDU(pdu.OpLoginResp, false, ""), pdu.Digests{}))
		}},
		{"data on a connection whose SYN was not seen", func(w *wire) {
			w.c = NewConn(func() *scsipolicy.Policy { return scsipolicy.Filtered() }, nil)
			w.send(FromInitiator, 0, tr.login)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pol := scsipolicy.Filtered()
			w := newWire(t, &pol)
			c.run(w)
			if !errors.Is(w.c.Err(), ErrBroken) || w.drops == 0 {
				t.Fatalf("err %v, %d drops: the connection must stop", w.c.Err(), w.drops)
			}
			drops := w.drops
			w.send(FromTarget, 10000, []byte("more"))
			if w.drops != drops+1 {
				t.Fatal("a stopped connection passed a packet")
			}
		})
	}
}

func TestHeaderSplitHoldsItsPackets(t *testing.T) {
	tr := newTranscript(t, pdu.Digests{})
	pol := scsipolicy.Filtered()
	w := newWire(t, &pol)
	w.sendAll(FromInitiator, 0, tr.login, 4096)
	w.sendAll(FromTarget, 0, tr.loginResp, 4096)
	// The first command's header in two segments: the first waits.
	w.send(FromInitiator, len(tr.login), tr.commands[:30])
	if len(w.pending) != 1 {
		t.Fatalf("%d packets wait, want the half header's", len(w.pending))
	}
	w.send(FromInitiator, len(tr.login)+30, tr.commands[30:])
	if len(w.pending) != 0 || !bytes.Equal(w.got[FromInitiator], tr.want) {
		t.Fatal("the held packet was not released with the rest")
	}
}

func FuzzConn(f *testing.F) {
	tr := newTranscript(f, pdu.Digests{Header: true})
	f.Add(tr.commands, uint16(48), uint16(7))
	f.Add([]byte{0x01, 0x80, 0, 0, 255}, uint16(1), uint16(3))
	f.Fuzz(func(t *testing.T, cmds []byte, n, retx uint16) {
		pol := scsipolicy.Filtered()
		refused := 0
		w := newWire(t, &pol)
		w.c.onCommand = func(d scsipolicy.Decision, _ uint64) {
			if !d.Allow {
				refused++
			}
		}
		w.sendAll(FromInitiator, 0, tr.login, 4096)
		w.sendAll(FromTarget, 0, tr.loginResp, 4096)
		size := int(n%2048) + 1
		w.sendAll(FromInitiator, len(tr.login), cmds, size)
		if r := int(retx) % (len(cmds) + 1); r < len(cmds) {
			w.send(FromInitiator, len(tr.login)+r, cmds[r:min(r+size, len(cmds))])
		}
		got := w.got[FromInitiator]
		if len(got) > len(tr.login) {
			got = got[len(tr.login):]
		} else {
			got = nil
		}
		// Whatever passed is the stream as sent, but for rewrites of
		// refused commands, each of which changes at most 5 bytes.
		diff := 0
		for i := range got {
			if got[i] != cmds[i] {
				diff++
			}
		}
		if diff > 5*refused {
			t.Fatalf("%d bytes changed for %d refused commands", diff, refused)
		}
		if w.c.Err() == nil && len(w.pending) > 0 && w.c.dirs[FromInitiator].need == 0 {
			t.Fatalf("%d packets wait with no header open", len(w.pending))
		}
	})
}
