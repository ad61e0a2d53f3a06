package proxy

import (
	"bytes"
	"errors"
	"testing"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// testFilter is a filter in the full feature phase with digests d and a
// policy the test can swap.
func testFilter(t *testing.T, d pdu.Digests, pol **scsipolicy.Policy) (*filter, *[]scsipolicy.Decision) {
	t.Helper()
	var seen []scsipolicy.Decision
	f := newFilter(func() *scsipolicy.Policy { return *pol }, func(dec scsipolicy.Decision, _ uint32, _ uint64) {
		seen = append(seen, dec)
	})
	f.hdrDigest.Store(d.Header)
	f.dataDigest.Store(d.Data)
	return f, &seen
}

func command(itt uint32, flags byte, cdb []byte, expLen uint32, data []byte) *pdu.PDU {
	p := &pdu.PDU{}
	p.SetOpcode(pdu.OpSCSICommand, false)
	p.BHS[1] = flags | 1
	p.SetLUN(1 << 48)
	p.SetU32(pdu.OffITT, itt)
	p.SetU32(pdu.OffField1, expLen)
	p.SetU32(pdu.OffField2, 40+itt)
	p.SetU32(pdu.OffField3, 500)
	p.SetCDB(cdb)
	p.Data = data
	return p
}

func response(itt uint32, status byte, data []byte) *pdu.PDU {
	p := &pdu.PDU{}
	p.SetOpcode(pdu.OpSCSIResponse, false)
	p.BHS[1] = pdu.FlagFinal
	p.BHS[3] = status
	p.SetU32(pdu.OffITT, itt)
	p.SetU32(pdu.OffField2, 900+itt)
	p.SetU32(pdu.OffField3, 60)
	p.SetU32(pdu.OffField4, 90)
	p.Data = data
	return p
}

// wire encodes p and decodes it back as a Reader would hand it over.
func wire(t *testing.T, p *pdu.PDU, d pdu.Digests) (*pdu.PDU, []byte) {
	t.Helper()
	b, err := p.Encode(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := pdu.Decode(b, d)
	if err != nil {
		t.Fatal(err)
	}
	return q, b
}

func decodeOut(t *testing.T, b []byte, d pdu.Digests) *pdu.PDU {
	t.Helper()
	p, n, err := pdu.Decode(b, d)
	if err != nil || n != len(b) {
		t.Fatalf("proxy output does not decode with digests %+v: %d/%d bytes, %v", d, n, len(b), err)
	}
	return p
}

// toTarget runs fromInitiator on a whole PDU and returns the bytes the
// target gets: raw when forwarded, the replacement otherwise.
func toTarget(f *filter, p *pdu.PDU, raw []byte) ([]byte, bool, error) {
	act, out, wait, err := f.fromInitiator(p, func() ([]byte, error) { return p.Data, nil })
	if act == forward {
		return raw, wait, err
	}
	return out, wait, err
}

// toInitiator is toTarget's counterpart for fromTarget.
func toInitiator(f *filter, p *pdu.PDU, raw []byte) ([]byte, bool, error) {
	act, out, answered, err := f.fromTarget(p, func() ([]byte, error) { return p.Data, nil }, nil)
	if act == forward {
		return raw, answered, err
	}
	return out, answered, err
}

var prOutRegister = []byte{0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}

func TestRefusedCommandBecomesTestUnitReady(t *testing.T) {
	cdb32 := make([]byte, 32)
	cdb32[0], cdb32[7], cdb32[9] = 0x7f, 0x18, 0x0d // WRITE SAME(32)
	tests := []struct {
		name string
		cmd  *pdu.PDU
	}{
		{"PR OUT with immediate data", command(1, pdu.FlagFinal|pdu.FlagWrite, prOutRegister, 24, make([]byte, 24))},
		{"write buffer, unsolicited data follows", command(2, pdu.FlagWrite, []byte{0x3b, 0x05}, 4096, make([]byte, 1000))},
		{"32-byte CDB in an AHS", command(3, pdu.FlagFinal|pdu.FlagWrite, cdb32, 512, nil)},
		{"vendor read", command(4, pdu.FlagFinal|pdu.FlagRead, []byte{0xc1}, 64, nil)},
	}
	for _, d := range []pdu.Digests{{}, {Header: true, Data: true}} {
		for _, tt := range tests {
			pol := scsipolicy.Filtered()
			f, seen := testFilter(t, d, &pol)
			in, raw := wire(t, tt.cmd, d)
			out, wait, err := toTarget(f, in, raw)
			if err != nil || wait {
				t.Fatalf("%s: %v %v", tt.name, err, wait)
			}
			got := decodeOut(t, out, d)
			want := tt.cmd.BHS
			if got.Opcode() != pdu.OpSCSICommand || got.Immediate() != tt.cmd.Immediate() || got.ITT() != tt.cmd.ITT() ||
				got.LUN() != tt.cmd.LUN() || got.U32(pdu.OffField2) != tt.cmd.U32(pdu.OffField2) || got.U32(pdu.OffField3) != 500 {
				t.Errorf("%s %+v: stand-in lost the command's identity: % x, want from % x", tt.name, d, got.BHS, want)
			}
			if got.Flags() != pdu.FlagFinal|1 || got.U32(pdu.OffField1) != 0 || len(got.AHS) != 0 || len(got.Data) != 0 ||
				!bytes.Equal(got.BHS[pdu.OffCDB:], make([]byte, 16)) {
				t.Errorf("%s %+v: stand-in is not a final TEST UNIT READY without data: % x AHS %d data %d",
					tt.name, d, got.BHS, len(got.AHS), len(got.Data))
			}
			if len(*seen) != 1 || (*seen)[0].Allow {
				t.Errorf("%s: decisions %+v", tt.name, *seen)
			}
		}
	}
}

func TestDataOutOfRefusedCommandIsDropped(t *testing.T) {
	pol := scsipolicy.Filtered()
	d := pdu.Digests{Header: true}
	f, _ := testFilter(t, d, &pol)
	in, raw := wire(t, command(7, pdu.FlagWrite, []byte{0x3b}, 8192, make([]byte, 4096)), d)
	if _, _, err := toTarget(f, in, raw); err != nil {
		t.Fatal(err)
	}
	dataOut := func(itt uint32) (*pdu.PDU, []byte) {
		p := &pdu.PDU{}
		p.SetOpcode(pdu.OpDataOut, false)
		p.BHS[1] = pdu.FlagFinal
		p.SetU32(pdu.OffITT, itt)
		p.SetU32(pdu.OffField1, 0xffffffff)
		p.Data = make([]byte, 4096)
		return wire(t, p, d)
	}
	p, raw := dataOut(7)
	if out, _, _ := toTarget(f, p, raw); out != nil {
		t.Error("unsolicited Data-Out of the refused write was forwarded")
	}
	p, raw = dataOut(8)
	if out, _, _ := toTarget(f, p, raw); !bytes.Equal(out, raw) {
		t.Error("Data-Out of another task was not forwarded as it was")
	}
	// The ITT comes back for an allowed write: its Data-Out flows again.
	in, raw = wire(t, command(7, pdu.FlagWrite, []byte{0x2a}, 8192, make([]byte, 4096)), d)
	if out, _, _ := toTarget(f, in, raw); !bytes.Equal(out, raw) {
		t.Error("allowed WRITE(10) was not forwarded as it was")
	}
	p, raw = dataOut(7)
	if out, _, _ := toTarget(f, p, raw); out == nil {
		t.Error("Data-Out of the allowed write reusing the ITT was dropped")
	}
}

func TestTargetStatusOfRefusedCommand(t *testing.T) {
	ua := pdu.SenseData(pdu.FixedSense(6, 0x29, 0))
	tests := []struct {
		name      string
		status    byte
		data      []byte
		wantSense [3]byte
		wantStat  byte
	}{
		{"GOOD becomes INVALID COMMAND OPERATION CODE", pdu.StatusGood, nil, [3]byte{5, 0x20, 0}, pdu.StatusCheckCondition},
		{"a unit attention passes", pdu.StatusCheckCondition, ua, [3]byte{6, 0x29, 0}, pdu.StatusCheckCondition},
		{"BUSY passes", 0x08, nil, [3]byte{}, 0x08},
	}
	for _, d := range []pdu.Digests{{}, {Header: true, Data: true}} {
		for _, tt := range tests {
			pol := scsipolicy.Filtered()
			f, _ := testFilter(t, d, &pol)
			in, raw := wire(t, command(5, pdu.FlagFinal|pdu.FlagWrite, prOutRegister, 24, make([]byte, 24)), d)
			if _, _, err := toTarget(f, in, raw); err != nil {
				t.Fatal(err)
			}
			resp, raw := wire(t, response(5, tt.status, tt.data), d)
			out, _, err := toInitiator(f, resp, raw)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeOut(t, out, d)
			key, asc, ascq, _ := pdu.SenseKey(pdu.Sense(got.Data))
			if got.BHS[3] != tt.wantStat || [3]byte{key, asc, ascq} != tt.wantSense {
				t.Errorf("%s %+v: status %#x sense %x/%x/%x", tt.name, d, got.BHS[3], key, asc, ascq)
			}
			if got.U32(pdu.OffField2) != 905 || got.U32(pdu.OffField3) != 60 || got.U32(pdu.OffField4) != 90 {
				t.Errorf("%s: StatSN/ExpCmdSN/MaxCmdSN changed: % x", tt.name, got.BHS[24:36])
			}
			if got.Flags() != pdu.FlagFinal|pdu.FlagUnderflow || got.U32(pdu.OffField7) != 24 {
				t.Errorf("%s: flags %#x residual %d, want underflow of 24", tt.name, got.Flags(), got.U32(pdu.OffField7))
			}
			// The refusal is answered once; a later status for the ITT is not rewritten.
			resp, raw = wire(t, response(5, pdu.StatusGood, nil), d)
			if out, _, _ := toInitiator(f, resp, raw); !bytes.Equal(out, raw) {
				t.Errorf("%s: second status for the ITT was rewritten", tt.name)
			}
		}
	}
}

func TestOutstandingCommandsAnsweredOutOfOrder(t *testing.T) {
	pol := scsipolicy.Filtered()
	d := pdu.Digests{Header: true, Data: true}
	f, _ := testFilter(t, d, &pol)
	cmds := []*pdu.PDU{
		command(1, pdu.FlagFinal|pdu.FlagWrite, prOutRegister, 24, make([]byte, 24)),
		command(2, pdu.FlagFinal|pdu.FlagRead, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, 4096, nil),
		command(3, pdu.FlagFinal, []byte{0x04}, 0, nil), // FORMAT UNIT
	}
	for _, c := range cmds {
		in, raw := wire(t, c, d)
		if _, _, err := toTarget(f, in, raw); err != nil {
			t.Fatal(err)
		}
	}
	for _, itt := range []uint32{3, 2, 1} {
		resp, raw := wire(t, response(itt, pdu.StatusGood, nil), d)
		out, _, err := toInitiator(f, resp, raw)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeOut(t, out, d)
		refused := itt != 2
		if (got.BHS[3] == pdu.StatusCheckCondition) != refused {
			t.Errorf("ITT %d: status %#x, refused %v", itt, got.BHS[3], refused)
		}
	}
}

func TestDataInStatusAndR2TOfRefusedCommand(t *testing.T) {
	pol := scsipolicy.Filtered()
	d := pdu.Digests{}
	f, _ := testFilter(t, d, &pol)
	in, raw := wire(t, command(9, pdu.FlagFinal|pdu.FlagRead, []byte{0xc0}, 512, nil), d)
	if _, _, err := toTarget(f, in, raw); err != nil {
		t.Fatal(err)
	}
	r2t := &pdu.PDU{}
	r2t.SetOpcode(pdu.OpR2T, false)
	r2t.SetU32(pdu.OffITT, 9)
	p, raw := wire(t, r2t, d)
	if _, _, err := toInitiator(f, p, raw); !errors.Is(err, ErrProtocol) {
		t.Errorf("R2T for the stand-in: %v, want ErrProtocol", err)
	}
	di := &pdu.PDU{}
	di.SetOpcode(pdu.OpDataIn, false)
	di.BHS[1] = pdu.FlagFinal
	di.SetU32(pdu.OffITT, 9)
	di.Data = []byte("secret")
	p, raw = wire(t, di, d)
	if out, _, _ := toInitiator(f, p, raw); out != nil {
		t.Error("Data-In of a refused command reached the initiator")
	}
	di.BHS[1] |= pdu.FlagStatus
	p, raw = wire(t, di, d)
	out, _, err := toInitiator(f, p, raw)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeOut(t, out, d)
	if got.Opcode() != pdu.OpSCSIResponse || got.BHS[3] != pdu.StatusCheckCondition || got.ITT() != 9 {
		t.Errorf("status in Data-In: %s status %#x", got.Opcode(), got.BHS[3])
	}
}

func TestLoginSwitchesDigests(t *testing.T) {
	pol := scsipolicy.Filtered()
	f, _ := testFilter(t, pdu.Digests{}, &pol)
	login := func(op pdu.Opcode, flags byte, text string) (*pdu.PDU, []byte) {
		p := &pdu.PDU{}
		p.SetOpcode(op, op == pdu.OpLoginReq)
		p.BHS[1] = flags
		p.Data = []byte(text)
		return wire(t, p, pdu.Digests{})
	}
	p, raw := login(pdu.OpLoginReq, pdu.FlagTransit|1<<2|3, "HeaderDigest=CRC32C,None\x00DataDigest=CRC32C,None\x00")
	if _, wait, err := toTarget(f, p, raw); err != nil || !wait {
		t.Fatalf("login request: wait %v, %v", wait, err)
	}
	p, raw = login(pdu.OpLoginResp, 1<<2|1, "HeaderDigest=CRC32C\x00DataDigest=None\x00")
	if _, answered, err := toInitiator(f, p, raw); err != nil || !answered || f.digests() != (pdu.Digests{}) {
		t.Fatalf("non-final login response: digests %+v, %v", f.digests(), err)
	}
	p, raw = login(pdu.OpLoginResp, pdu.FlagTransit|1<<2|3, "")
	if _, _, err := toInitiator(f, p, raw); err != nil || f.digests() != (pdu.Digests{Header: true}) {
		t.Fatalf("final login response: digests %+v, %v", f.digests(), err)
	}

	f, _ = testFilter(t, pdu.Digests{}, &pol)
	p, raw = login(pdu.OpLoginResp, 0, "TargetAddress=10.0.0.9:3260,1\x00")
	p.BHS[36] = 1 // redirection
	if _, _, err := toInitiator(f, p, raw); !errors.Is(err, ErrProtocol) {
		t.Errorf("login redirect: %v, want ErrProtocol", err)
	}

	f, _ = testFilter(t, pdu.Digests{}, &pol)
	p, raw = login(pdu.OpLoginReq, pdu.FlagTransit|1<<2|3, "HeaderDigest=CRC32C\x00")
	_, _, _ = toTarget(f, p, raw)
	p, raw = login(pdu.OpLoginResp, pdu.FlagTransit|1<<2|3, "")
	if _, _, err := toInitiator(f, p, raw); !errors.Is(err, pdu.ErrNegotiation) {
		t.Errorf("unanswered digest offer: %v, want ErrNegotiation", err)
	}
}

func TestPolicySwappedLive(t *testing.T) {
	pol := scsipolicy.Filtered()
	f, _ := testFilter(t, pdu.Digests{}, &pol)
	in, raw := wire(t, command(1, pdu.FlagFinal|pdu.FlagWrite, prOutRegister, 24, make([]byte, 24)), pdu.Digests{})
	if out, _, _ := toTarget(f, in, raw); bytes.Equal(out, raw) {
		t.Fatal("filtered forwarded PR OUT")
	}
	pol = scsipolicy.Unfiltered()
	in, raw = wire(t, command(2, pdu.FlagFinal|pdu.FlagWrite, prOutRegister, 24, make([]byte, 24)), pdu.Digests{})
	if out, _, _ := toTarget(f, in, raw); !bytes.Equal(out, raw) {
		t.Fatal("unfiltered did not forward PR OUT as it was")
	}
}

func TestSwallowedTagsAreBounded(t *testing.T) {
	pol := scsipolicy.Filtered()
	f, _ := testFilter(t, pdu.Digests{}, &pol)
	for itt := range uint32(3 * maxSwallowed) {
		in, raw := wire(t, command(itt, pdu.FlagWrite, []byte{0x3b}, 512, nil), pdu.Digests{})
		if _, _, err := toTarget(f, in, raw); err != nil {
			t.Fatal(err)
		}
		resp, raw := wire(t, response(itt, pdu.StatusGood, nil), pdu.Digests{})
		if _, _, err := toInitiator(f, resp, raw); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.swallow) != maxSwallowed || len(f.refused) != 0 {
		t.Errorf("after %d refused writes: %d swallowed tags, %d refusals outstanding", 3*maxSwallowed, len(f.swallow), len(f.refused))
	}
}
