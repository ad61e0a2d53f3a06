// Package initiator is a small iSCSI initiator: one connection, no
// authentication, one command at a time. It exists so that tests and
// benchmarks can send any CDB (PERSISTENT RESERVE OUT, vendor codes, writes
// with immediate, unsolicited or solicited data) to tgtd directly or through
// the proxy, and read a target's state without going through the proxy.
package initiator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/govirt/govirt/internal/iscsi/pdu"
)

// Options say whom to log in to and what to offer.
type Options struct {
	InitiatorName string // default iqn.2026-11.dev.govirt:initiator
	TargetName    string
	HeaderDigest  bool // offer CRC32C only (the target must accept)
	DataDigest    bool
	// ImmediateData offers ImmediateData=Yes; InitialR2T=No is offered when
	// Unsolicited is set, allowing Data-Out without R2T.
	ImmediateData bool
	Unsolicited   bool
}

// Conn is a logged-in session of one connection.
type Conn struct {
	c         net.Conn
	r         *pdu.Reader
	d         pdu.Digests
	params    pdu.Params
	cmdSN     uint32
	expStatSN uint32
	itt       uint32
}

// Result is a command's status and data.
type Result struct {
	Status byte
	Sense  []byte
	Data   []byte
	// Residual is the residual count of an underflow or overflow.
	Residual uint32
}

// SenseKey returns key, ASC and ASCQ of the result's sense data.
func (r *Result) SenseKey() (key, asc, ascq byte) {
	key, asc, ascq, _ = pdu.SenseKey(r.Sense)
	return key, asc, ascq
}

// ErrLogin is a login the target refused.
var ErrLogin = errors.New("iscsi login refused")

// Dial connects to addr (host:port) and logs in.
func Dial(ctx context.Context, addr string, opt Options) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{c: nc, r: pdu.NewReader(nc), cmdSN: 1, itt: 0x1000}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.login(opt); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// Params are the negotiated parameters.
func (c *Conn) Params() pdu.Params { return c.params }

// Close closes the connection without a logout.
func (c *Conn) Close() error { return c.c.Close() }

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func digestOffer(b bool) string {
	if b {
		return "CRC32C"
	}
	return "None"
}

func (c *Conn) login(opt Options) error {
	if opt.InitiatorName == "" {
		opt.InitiatorName = "iqn.2026-11.dev.govirt:initiator"
	}
	var isid [6]byte
	_, _ = rand.Read(isid[2:])
	isid[0] = 0x80 // random ISID format
	neg := pdu.NewNegotiation()
	stages := []struct {
		csg, nsg int
		kvs      []pdu.KV
	}{
		{pdu.StageSecurity, pdu.StageOperational, []pdu.KV{
			{Key: "InitiatorName", Value: opt.InitiatorName}, {Key: "TargetName", Value: opt.TargetName},
			{Key: "SessionType", Value: "Normal"}, {Key: "AuthMethod", Value: "None"}}},
		{pdu.StageOperational, pdu.StageFullFeature, []pdu.KV{
			{Key: "HeaderDigest", Value: digestOffer(opt.HeaderDigest)},
			{Key: "DataDigest", Value: digestOffer(opt.DataDigest)},
			{Key: "MaxRecvDataSegmentLength", Value: "262144"},
			{Key: "ImmediateData", Value: yesNo(opt.ImmediateData)},
			{Key: "InitialR2T", Value: yesNo(!opt.Unsolicited)},
			{Key: "FirstBurstLength", Value: "65536"}, {Key: "MaxBurstLength", Value: "262144"},
			{Key: "MaxConnections", Value: "1"}, {Key: "ErrorRecoveryLevel", Value: "0"},
			{Key: "DefaultTime2Wait", Value: "0"}, {Key: "DefaultTime2Retain", Value: "0"},
			{Key: "MaxOutstandingR2T", Value: "1"}, {Key: "DataPDUInOrder", Value: "Yes"},
			{Key: "DataSequenceInOrder", Value: "Yes"}}},
	}
	var f pdu.Frame
	for _, st := range stages {
		for {
			var req pdu.PDU
			req.SetOpcode(pdu.OpLoginReq, true)
			req.BHS[1] = pdu.FlagTransit | byte(st.csg)<<2 | byte(st.nsg)
			copy(req.BHS[8:14], isid[:])
			req.SetU32(pdu.OffITT, c.itt)
			req.SetU32(pdu.OffField2, c.cmdSN)
			req.SetU32(pdu.OffField3, c.expStatSN)
			req.Data = pdu.EncodeText(st.kvs)
			if err := neg.Add(pdu.Initiator, req.Data, false); err != nil {
				return err
			}
			if err := c.send(&req); err != nil {
				return err
			}
			if err := c.r.Next(&f, pdu.Digests{}); err != nil {
				return fmt.Errorf("login: %w", err)
			}
			if f.PDU.Opcode() != pdu.OpLoginResp {
				return fmt.Errorf("%w: answered with %s", ErrLogin, f.PDU.Opcode())
			}
			if class, detail := f.PDU.LoginStatus(); class != 0 {
				return fmt.Errorf("%w: status %d/%d", ErrLogin, class, detail)
			}
			if err := neg.Add(pdu.Target, f.PDU.Data, false); err != nil {
				return err
			}
			c.expStatSN = f.PDU.U32(pdu.OffField2) + 1
			transit, _, _, nsg := f.PDU.LoginFlags()
			st.kvs = nil // more rounds of the same stage carry no new keys
			if transit && nsg == st.nsg {
				break
			}
		}
	}
	params, err := neg.Params()
	if err != nil {
		return err
	}
	c.params = params
	c.d = pdu.Digests{Header: params.HeaderDigest, Data: params.DataDigest}
	c.itt++
	return nil
}

func (c *Conn) send(p *pdu.PDU) error {
	b, err := p.Encode(nil, c.d)
	if err != nil {
		return err
	}
	_, err = c.c.Write(b)
	return err
}

// Command sends one CDB to lun with out as its data (a write) or expecting
// inLen bytes (a read), and returns the status. Data goes as immediate data
// and unsolicited Data-Out as far as the login allowed, the rest on R2T.
func (c *Conn) Command(ctx context.Context, lun uint64, cdb []byte, out []byte, inLen int) (*Result, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	itt, err := c.sendCommand(lun, cdb, out, inLen)
	if err != nil {
		return nil, err
	}
	return c.awaitStatus(lun, itt, out, inLen)
}

// sendCommand sends the SCSI Command PDU and the unsolicited data.
func (c *Conn) sendCommand(lun uint64, cdb []byte, out []byte, inLen int) (uint32, error) {
	c.itt++
	itt := c.itt
	var cmd pdu.PDU
	cmd.SetOpcode(pdu.OpSCSICommand, false)
	cmd.BHS[1] = 1 // simple task attribute
	if len(out) > 0 {
		cmd.BHS[1] |= pdu.FlagWrite
	}
	if inLen > 0 {
		cmd.BHS[1] |= pdu.FlagRead
	}
	cmd.SetLUN(lun)
	cmd.SetU32(pdu.OffITT, itt)
	cmd.SetU32(pdu.OffField1, uint32(len(out)+inLen))
	cmd.SetU32(pdu.OffField2, c.cmdSN)
	cmd.SetU32(pdu.OffField3, c.expStatSN)
	cmd.SetCDB(cdb)
	c.cmdSN++
	maxSeg := int(c.params.MaxRecvDataSegmentLength[pdu.Target])
	first := min(len(out), int(c.params.FirstBurstLength))
	sent := 0
	if c.params.ImmediateData && first > 0 {
		sent = min(first, maxSeg)
		cmd.Data = out[:sent]
	}
	unsolicited := !c.params.InitialR2T && sent < first
	if !unsolicited {
		cmd.BHS[1] |= pdu.FlagFinal
	}
	if err := c.send(&cmd); err != nil {
		return 0, err
	}
	if unsolicited {
		if err := c.dataOut(lun, itt, 0xffffffff, out, sent, first-sent, maxSeg); err != nil {
			return 0, err
		}
	}
	return itt, nil
}

// awaitStatus collects Data-In and answers R2Ts and pings until the
// command's status arrives.
func (c *Conn) awaitStatus(lun uint64, itt uint32, out []byte, inLen int) (*Result, error) {
	res := &Result{}
	if inLen > 0 {
		res.Data = make([]byte, inLen)
	}
	maxSeg := int(c.params.MaxRecvDataSegmentLength[pdu.Target])
	got := 0
	var f pdu.Frame
	for {
		if err := c.r.Next(&f, c.d); err != nil {
			return nil, fmt.Errorf("waiting for status: %w", err)
		}
		p := &f.PDU
		switch p.Opcode() {
		case pdu.OpDataIn:
			off := int(p.U32(pdu.OffField6))
			if off+len(p.Data) > inLen {
				return nil, fmt.Errorf("data-in past the expected %d bytes", inLen)
			}
			copy(res.Data[off:], p.Data)
			got = max(got, off+len(p.Data))
			if p.Flags()&pdu.FlagStatus != 0 {
				res.Status = p.BHS[3]
				res.Residual = p.U32(pdu.OffField7)
				c.expStatSN = p.U32(pdu.OffField2) + 1
				res.Data = res.Data[:got]
				return res, nil
			}
		case pdu.OpR2T:
			if p.ITT() != itt {
				return nil, fmt.Errorf("R2T for ITT %#x while waiting for %#x", p.ITT(), itt)
			}
			if err := c.dataOut(lun, itt, p.U32(pdu.OffField1), out, int(p.U32(pdu.OffField6)), int(p.U32(pdu.OffField7)), maxSeg); err != nil {
				return nil, err
			}
		case pdu.OpSCSIResponse:
			c.expStatSN = p.U32(pdu.OffField2) + 1
			if p.ITT() != itt {
				return nil, fmt.Errorf("status for ITT %#x while waiting for %#x", p.ITT(), itt)
			}
			if p.BHS[2] != 0 {
				return nil, fmt.Errorf("target failure, response %#x", p.BHS[2])
			}
			res.Status = p.BHS[3]
			res.Sense = append([]byte(nil), pdu.Sense(p.Data)...)
			res.Residual = p.U32(pdu.OffField7)
			res.Data = res.Data[:got]
			return res, nil
		case pdu.OpNOPIn:
			if err := c.pong(p); err != nil {
				return nil, err
			}
		case pdu.OpAsync:
		default:
			return nil, fmt.Errorf("unexpected %s", p.Opcode())
		}
	}
}

// pong answers a target's ping (a NOP-In with a target transfer tag).
func (c *Conn) pong(in *pdu.PDU) error {
	ttt := in.U32(pdu.OffField1)
	if ttt == 0xffffffff {
		return nil
	}
	var nop pdu.PDU
	nop.SetOpcode(pdu.OpNOPOut, true)
	nop.BHS[1] = pdu.FlagFinal
	nop.SetLUN(in.LUN())
	nop.SetU32(pdu.OffITT, 0xffffffff)
	nop.SetU32(pdu.OffField1, ttt)
	nop.SetU32(pdu.OffField2, c.cmdSN)
	nop.SetU32(pdu.OffField3, c.expStatSN)
	return c.send(&nop)
}

// dataOut sends out[off:off+n] as Data-Out PDUs for one R2T (or the
// unsolicited burst, ttt 0xffffffff).
func (c *Conn) dataOut(lun uint64, itt, ttt uint32, out []byte, off, n, maxSeg int) error {
	if off < 0 || n < 0 || off+n > len(out) {
		return fmt.Errorf("R2T for bytes %d+%d of %d", off, n, len(out))
	}
	var sn uint32
	for end := off + n; off < end; sn++ {
		chunk := min(end-off, maxSeg)
		var d pdu.PDU
		d.SetOpcode(pdu.OpDataOut, false)
		if off+chunk == end {
			d.BHS[1] = pdu.FlagFinal
		}
		d.SetLUN(lun)
		d.SetU32(pdu.OffITT, itt)
		d.SetU32(pdu.OffField1, ttt)
		d.SetU32(pdu.OffField3, c.expStatSN)
		d.SetU32(pdu.OffField5, sn)
		d.SetU32(pdu.OffField6, uint32(off))
		d.Data = out[off : off+chunk]
		if err := c.send(&d); err != nil {
			return err
		}
		off += chunk
	}
	return nil
}

// LUN encodes a LUN number in the 8-byte single-level format (peripheral
// addressing below 256, flat space above).
func LUN(n int) uint64 {
	if n < 256 {
		return uint64(n) << 48
	}
	return (0x4000 | uint64(n&0x3fff)) << 48
}

// String describes a result for test messages.
func (r *Result) String() string {
	key, asc, ascq := r.SenseKey()
	return "status " + strconv.Itoa(int(r.Status)) + fmt.Sprintf(" sense %x/%02x/%02x", key, asc, ascq) + " data " + strconv.Itoa(len(r.Data))
}
