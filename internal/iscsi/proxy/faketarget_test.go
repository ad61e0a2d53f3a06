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

// fakeConn is one connection of the fake target: its digests and sequence
// numbers.
type fakeConn struct {
	t                *fakeTarget
	c                net.Conn
	d                pdu.Digests
	statSN, expCmdSN uint32
}

func (t *fakeTarget) run(c net.Conn) error {
	fc := &fakeConn{t: t, c: c, statSN: 100}
	r := pdu.NewReader(c)
	var f pdu.Frame
	for {
		if err := r.Next(&f, fc.d); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		var err error
		switch p := &f.PDU; p.Opcode() {
		case pdu.OpLoginReq:
			err = fc.login(p)
		case pdu.OpSCSICommand:
			err = fc.command(p)
		case pdu.OpDataOut:
			err = fc.dataOut(p)
		case pdu.OpNOPOut:
			if p.ITT() != 0xffffffff {
				var in pdu.PDU
				in.SetOpcode(pdu.OpNOPIn, false)
				in.BHS[1] = pdu.FlagFinal
				in.SetU32(pdu.OffITT, p.ITT())
				in.SetU32(pdu.OffField1, 0xffffffff)
				fc.status(&in, 0)
				err = fc.send(&in)
			}
		}
		if err != nil {
			return err
		}
	}
}

func (fc *fakeConn) send(p *pdu.PDU) error {
	b, err := p.Encode(nil, fc.d)
	if err != nil {
		return err
	}
	_, err = fc.c.Write(b)
	return err
}

// status numbers a response and sets its status byte.
func (fc *fakeConn) status(p *pdu.PDU, st byte) {
	p.SetU32(pdu.OffField2, fc.statSN)
	p.SetU32(pdu.OffField3, fc.expCmdSN)
	p.SetU32(pdu.OffField4, fc.expCmdSN+32)
	fc.statSN++
	p.BHS[3] = st
}

// login answers every stage at once and switches digests on after the
// final response, as a real target does.
func (fc *fakeConn) login(p *pdu.PDU) error {
	transit, _, _, nsg := p.LoginFlags()
	var resp pdu.PDU
	resp.SetOpcode(pdu.OpLoginResp, false)
	resp.BHS[1] = p.BHS[1] &^ pdu.FlagContinue
	resp.SetU32(pdu.OffITT, p.ITT())
	final := transit && nsg == pdu.StageFullFeature
	if final {
		resp.Data = []byte(fc.t.answer)
	}
	fc.status(&resp, 0)
	fc.expCmdSN = p.U32(pdu.OffField2)
	resp.SetU32(pdu.OffField3, fc.expCmdSN)
	if err := fc.send(&resp); err != nil {
		return err
	}
	if !final {
		return nil
	}
	n := pdu.NewNegotiation()
	_ = n.Add(pdu.Initiator, p.Data, false)
	_ = n.Add(pdu.Target, resp.Data, false)
	params, err := n.Params()
	if err != nil {
		return err
	}
	fc.d = pdu.Digests{Header: params.HeaderDigest, Data: params.DataDigest}
	return nil
}

// command records a SCSI Command and answers it: data and status for a
// read, an R2T for the rest of a write, a status otherwise.
func (fc *fakeConn) command(p *pdu.PDU) error {
	rec := recorded{itt: p.ITT(), immediate: len(p.Data), expLen: p.U32(pdu.OffField1)}
	copy(rec.cdb[:], p.BHS[pdu.OffCDB:])
	fc.t.mu.Lock()
	fc.t.commands = append(fc.t.commands, rec)
	fc.t.mu.Unlock()
	if !p.Immediate() {
		fc.expCmdSN = p.U32(pdu.OffField2) + 1
	}
	exp := p.U32(pdu.OffField1)
	switch {
	case p.Flags()&pdu.FlagRead != 0 && exp > 0 && exp < 1<<20:
		var in pdu.PDU
		in.SetOpcode(pdu.OpDataIn, false)
		in.BHS[1] = pdu.FlagFinal | pdu.FlagStatus
		in.SetU32(pdu.OffITT, p.ITT())
		in.SetU32(pdu.OffField1, 0xffffffff)
		in.Data = bytes.Repeat([]byte{fc.t.block}, int(exp))
		fc.status(&in, pdu.StatusGood)
		return fc.send(&in)
	case p.Flags()&pdu.FlagWrite != 0 && p.Final() && int(exp) > len(p.Data) && exp < 1<<20:
		var r2t pdu.PDU
		r2t.SetOpcode(pdu.OpR2T, false)
		r2t.BHS[1] = pdu.FlagFinal
		r2t.SetU32(pdu.OffITT, p.ITT())
		r2t.SetU32(pdu.OffField1, 0x77)
		r2t.SetU32(pdu.OffField2, fc.statSN)
		r2t.SetU32(pdu.OffField6, uint32(len(p.Data)))
		r2t.SetU32(pdu.OffField7, exp-uint32(len(p.Data)))
		return fc.send(&r2t) // the status follows the last Data-Out
	}
	return fc.good(p.ITT())
}

// dataOut records a Data-Out and answers the last one of an R2T.
func (fc *fakeConn) dataOut(p *pdu.PDU) error {
	fc.t.mu.Lock()
	fc.t.dataOuts = append(fc.t.dataOuts, p.ITT())
	fc.t.mu.Unlock()
	if p.Final() && p.U32(pdu.OffField1) == 0x77 {
		return fc.good(p.ITT())
	}
	return nil
}

func (fc *fakeConn) good(itt uint32) error {
	var resp pdu.PDU
	resp.SetOpcode(pdu.OpSCSIResponse, false)
	resp.BHS[1] = pdu.FlagFinal
	resp.SetU32(pdu.OffITT, itt)
	fc.status(&resp, pdu.StatusGood)
	return fc.send(&resp)
}
