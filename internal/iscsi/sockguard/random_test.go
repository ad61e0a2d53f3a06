package sockguard

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// TestRandomStreamsNeverPassARefusedCommand throws streams of random
// initiator PDUs at the kernel half, over IPv4 and IPv6, with and without
// digests, each PDU written in pieces as a short-writing initiator would,
// or several whole in one write: SCSI commands with random operation codes and service
// actions (some with CDBs longer than 16 bytes in an AHS), data segments
// of any length, and the other initiator opcodes. What the target reads
// must be the same PDUs, byte for byte, except that every command the
// policy refuses carries 7Dh: never a refused command, and never a
// header the program took for data or the other way round.
func TestRandomStreamsNeverPassARefusedCommand(t *testing.T) {
	h := openHost(t)
	custom, err := scsipolicy.Compile(scsipolicy.Spec{Name: "custom", Base: scsipolicy.BaseFiltered,
		Allow: []string{"0x5f/0x00", "0x5f/0x06", "0x5e", "0x42"}, Deny: []string{"0x9e/0x12"}})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(2026, 11))
	for round, c := range []struct {
		network string
		ip      net.IP
		pol     *scsipolicy.Policy
		d       pdu.Digests
	}{
		{"tcp4", net.IPv4(127, 0, 0, 1), scsipolicy.Filtered(), pdu.Digests{}},
		{"tcp4", net.IPv4(127, 0, 0, 1), custom, pdu.Digests{Header: true, Data: true}},
		{"tcp6", net.IPv6loopback, custom, pdu.Digests{Header: true}},
		{"tcp6", net.IPv6loopback, scsipolicy.Filtered(), pdu.Digests{Data: true}},
	} {
		ini, tgt, port := armedPairOn(t, h, c.pol, c.d, c.network, c.ip)

		const n = 400
		sent := make([]*pdu.PDU, n)
		wires := make([][]byte, n)
		for i := range sent {
			sent[i] = randomPDU(rnd)
			if wires[i], err = sent[i].Encode(nil, c.d); err != nil {
				t.Fatal(err)
			}
		}
		errc := make(chan error, 1)
		cut := rand.New(rand.NewPCG(uint64(round), 7)) // the writer's own
		go func() {
			for i := 0; i < len(wires); i++ {
				w := wires[i]
				// Sometimes several whole PDUs in one write, as an
				// initiator that batches would.
				if cut.IntN(4) == 0 {
					for k := cut.IntN(4); k > 0 && i+1 < len(wires); k-- {
						i++
						w = append(append([]byte(nil), w...), wires[i]...)
					}
					if _, err := ini.Write(w); err != nil {
						errc <- err
						return
					}
					continue
				}
				for len(w) > 0 {
					k := len(w)
					if cut.IntN(3) > 0 {
						k = 1 + cut.IntN(len(w))
					}
					if _, err := ini.Write(w[:k]); err != nil {
						errc <- err
						return
					}
					w = w[k:]
				}
			}
			errc <- nil
		}()
		got := receive(t, tgt, n, c.d)
		if err := <-errc; err != nil {
			t.Fatalf("round %d: write: %v", round, err)
		}
		refused := 0
		for i, p := range got {
			want := *sent[i]
			if want.Opcode() == pdu.OpSCSICommand {
				cdb, _ := want.CDB()
				if !c.pol.Decide(cdb).Allow {
					want.BHS[pdu.OffCDB] = 0x7d
					refused++
				}
			}
			if want.BHS != p.BHS || !bytes.Equal(want.AHS, p.AHS) || !bytes.Equal(want.Data, p.Data) {
				t.Fatalf("round %d (%s, %s, %+v): PDU %d arrived as\n% x\nwant\n% x", round, c.network, c.pol.Name(), c.d, i, p.BHS, want.BHS)
			}
		}
		if s, err := h.Stats(port); err != nil || s.Refused != uint64(refused) {
			t.Errorf("round %d: stats %+v, %v; want %d refused", round, s, err, refused)
		}
		t.Logf("round %d (%s, %s, %+v): %d PDUs, %d commands refused", round, c.network, c.pol.Name(), c.d, n, refused)
	}
}

// randomPDU makes one initiator PDU: mostly SCSI commands, with operation
// codes weighted toward the ones policies name.
func randomPDU(rnd *rand.Rand) *pdu.PDU {
	p := &pdu.PDU{}
	ops := []pdu.Opcode{pdu.OpNOPOut, pdu.OpTaskMgmtReq, pdu.OpTextReq, pdu.OpDataOut, pdu.OpSNACK}
	if rnd.IntN(10) < 3 {
		p.SetOpcode(ops[rnd.IntN(len(ops))], rnd.IntN(2) == 0)
	} else {
		p.SetOpcode(pdu.OpSCSICommand, rnd.IntN(2) == 0)
		cdb := make([]byte, 16)
		if rnd.IntN(8) == 0 {
			cdb = make([]byte, 17+rnd.IntN(48)) // extended CDB in an AHS
		}
		for i := range cdb {
			cdb[i] = byte(rnd.Uint32())
		}
		named := []byte{0x28, 0x2a, 0x5e, 0x5f, 0x7f, 0x9e, 0x3b, 0x04, 0x42, 0x12, 0xa0}
		if rnd.IntN(2) == 0 {
			cdb[0] = named[rnd.IntN(len(named))]
		}
		p.SetCDB(cdb)
	}
	p.SetU32(pdu.OffITT, rnd.Uint32())
	if rnd.IntN(3) > 0 {
		p.Data = make([]byte, rnd.IntN(3000))
		for i := range p.Data {
			p.Data[i] = byte(rnd.Uint32())
		}
	}
	return p
}
