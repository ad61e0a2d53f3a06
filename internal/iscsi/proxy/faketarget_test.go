package proxy

import (
	"bytes"
	"io"
	"net"
	"sync"

	"github.com/govirt/govirt/internal/iscsi/pdu"
)

// fakeTarget is a minimal iSCSI target for unit tests of the wire logic: it
// answers logins (switching digests like a real target after its final
// Login Response), records every SCSI Command and Data-Out it receives
// with the framing a real target would use, asks for write data with R2T,
// and answers reads with data and status in one Data-In.
type fakeTarget struct {
	// answer is the login text the target sends back in its final response.
	answer string
	// block is a byte the target fills read data with.
	block byte

	mu       sync.Mutex
	commands []recorded
	dataOuts []uint32 // ITTs of Data-Out PDUs
	err      error    // why the last connection ended
}

type recorded struct {
	itt       uint32
	cdb       [16]byte
	immediate int
	expLen    uint32
}

func (t *fakeTarget) recorded() []recorded {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]recorded(nil), t.commands...)
}

// serve speaks iSCSI on c until it closes.
func (t *fakeTarget) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	err := t.run(c)
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
}

func (t *fakeTarget) run(c net.Conn) error {
	r := pdu.NewReader(c)
	var d pdu.Digests
	var statSN, expCmdSN uint32 = 100, 0
	var f pdu.Frame
	send := func(p *pdu.PDU) error {
		b, err := p.Encode(nil, d)
		if err != nil {
			return err
		}
		_, err = c.Write(b)
		return err
	}
	status := func(p *pdu.PDU, st byte) {
		p.SetU32(pdu.OffField2, statSN)
		p.SetU32(pdu.OffField3, expCmdSN)
		p.SetU32(pdu.OffField4, expCmdSN+32)
		statSN++
		p.BHS[3] = st
	}
	for {
		if err := r.Next(&f, d); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		p := &f.PDU
		switch p.Opcode() {
		case pdu.OpLoginReq:
			transit, _, csg, nsg := p.LoginFlags()
			var resp pdu.PDU
			resp.SetOpcode(pdu.OpLoginResp, false)
			resp.BHS[1] = p.BHS[1] &^ pdu.FlagContinue
			resp.SetU32(pdu.OffITT, p.ITT())
			final := transit && nsg == pdu.StageFullFeature
			if final {
				resp.Data = []byte(t.answer)
			}
			_ = csg
			status(&resp, 0)
			expCmdSN = p.U32(pdu.OffField2)
			resp.SetU32(pdu.OffField3, expCmdSN)
			if err := send(&resp); err != nil {
				return err
			}
			if final {
				n := pdu.NewNegotiation()
				_ = n.Add(pdu.Initiator, p.Data, false)
				_ = n.Add(pdu.Target, resp.Data, false)
				params, err := n.Params()
				if err != nil {
					return err
				}
				d = pdu.Digests{Header: params.HeaderDigest, Data: params.DataDigest}
			}
		case pdu.OpSCSICommand:
			rec := recorded{itt: p.ITT(), immediate: len(p.Data), expLen: p.U32(pdu.OffField1)}
			copy(rec.cdb[:], p.BHS[pdu.OffCDB:])
			t.mu.Lock()
			t.commands = append(t.commands, rec)
			t.mu.Unlock()
			if !p.Immediate() {
				expCmdSN = p.U32(pdu.OffField2) + 1
			}
			exp := p.U32(pdu.OffField1)
			switch {
			case p.Flags()&pdu.FlagRead != 0 && exp > 0 && exp < 1<<20:
				var in pdu.PDU
				in.SetOpcode(pdu.OpDataIn, false)
				in.BHS[1] = pdu.FlagFinal | pdu.FlagStatus
				in.SetU32(pdu.OffITT, p.ITT())
				in.SetU32(pdu.OffField1, 0xffffffff)
				in.Data = bytes.Repeat([]byte{t.block}, int(exp))
				status(&in, pdu.StatusGood)
				if err := send(&in); err != nil {
					return err
				}
				continue
			case p.Flags()&pdu.FlagWrite != 0 && p.Final() && int(exp) > len(p.Data) && exp < 1<<20:
				var r2t pdu.PDU
				r2t.SetOpcode(pdu.OpR2T, false)
				r2t.BHS[1] = pdu.FlagFinal
				r2t.SetU32(pdu.OffITT, p.ITT())
				r2t.SetU32(pdu.OffField1, 0x77)
				r2t.SetU32(pdu.OffField2, statSN)
				r2t.SetU32(pdu.OffField6, uint32(len(p.Data)))
				r2t.SetU32(pdu.OffField7, exp-uint32(len(p.Data)))
				if err := send(&r2t); err != nil {
					return err
				}
				// the Data-Out and then the status follow from the Data-Out case
				continue
			}
			var resp pdu.PDU
			resp.SetOpcode(pdu.OpSCSIResponse, false)
			resp.BHS[1] = pdu.FlagFinal
			resp.SetU32(pdu.OffITT, p.ITT())
			status(&resp, pdu.StatusGood)
			if err := send(&resp); err != nil {
				return err
			}
		case pdu.OpDataOut:
			t.mu.Lock()
			t.dataOuts = append(t.dataOuts, p.ITT())
			t.mu.Unlock()
			if p.Final() && p.U32(pdu.OffField1) == 0x77 {
				var resp pdu.PDU
				resp.SetOpcode(pdu.OpSCSIResponse, false)
				resp.BHS[1] = pdu.FlagFinal
				resp.SetU32(pdu.OffITT, p.ITT())
				status(&resp, pdu.StatusGood)
				if err := send(&resp); err != nil {
					return err
				}
			}
		case pdu.OpNOPOut:
			if p.ITT() != 0xffffffff {
				var in pdu.PDU
				in.SetOpcode(pdu.OpNOPIn, false)
				in.BHS[1] = pdu.FlagFinal
				in.SetU32(pdu.OffITT, p.ITT())
				in.SetU32(pdu.OffField1, 0xffffffff)
				status(&in, 0)
				if err := send(&in); err != nil {
					return err
				}
			}
		}
	}
}
