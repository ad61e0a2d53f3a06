package guard

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// refusedOpcode stands in for the operation code of a refused command.
// SPC reserves the whole of CDB group 3 but 7Eh and 7Fh (60h-7Dh) in every
// device type, so a target can only refuse it: ILLEGAL REQUEST, INVALID
// COMMAND OPERATION CODE, which is what the guest is meant to see.
const refusedOpcode = 0x7d

// ErrBroken is a connection the guard stopped: every packet of it is
// dropped from then on.
var ErrBroken = errors.New("iscsi guard: connection stopped")

// maxLoginData bounds one Login PDU's data segment.
const maxLoginData = 64 << 10

// Conn is the wire logic of one guarded TCP connection: it reads the
// initiator's PDUs (and the target's until the login ends) from the
// segments the queue hands over and decides each packet.
type Conn struct {
	policy    func() *scsipolicy.Policy
	onCommand func(d scsipolicy.Decision, lun uint64)
	// OnLogin, when set, is told the parameters of the completed login
	// before the target's final Login Response is let through; an error
	// stops the connection.
	OnLogin func(pdu.Params) error

	dirs       [2]stream
	neg        *pdu.Negotiation
	loginEnded bool // the target's final Login Response was read
	digests    pdu.Digests
	err        error

	out []Verdict
}

// NewConn follows a new connection under the policy policy returns (read
// for every command, so a change applies at once); onCommand, when set, is
// told every SCSI command's decision.
func NewConn(policy func() *scsipolicy.Policy, onCommand func(d scsipolicy.Decision, lun uint64)) *Conn {
	return &Conn{policy: policy, onCommand: onCommand, neg: pdu.NewNegotiation()}
}

// Err says why the connection was stopped (wrapping ErrBroken), nil while
// it runs.
func (c *Conn) Err() error { return c.err }

// Segment takes one queued TCP segment of the connection and returns the
// verdicts it makes possible: for this packet, for packets held before it,
// or none when it is held itself. The result is valid until the next call.
func (c *Conn) Segment(dir Dir, id uint32, seq uint32, syn bool, payload []byte) []Verdict {
	c.out = c.out[:0]
	if c.err != nil {
		return c.dropAll(id)
	}
	s := &c.dirs[dir]
	if syn {
		if s.started && s.base != seq+1 {
			return c.fail(id, fmt.Errorf("a second SYN %s with another sequence number", dir))
		}
		s.started, s.base = true, seq+1
		seq++ // data on a SYN starts after it
	}
	if len(payload) == 0 || s.done {
		return append(c.out, Verdict{ID: id})
	}
	if !s.started {
		return c.fail(id, fmt.Errorf("data %s on a connection whose start was not seen", dir))
	}
	a, ok := s.offset(seq)
	if !ok || a < s.floor {
		return append(c.out, Verdict{ID: id, Drop: true})
	}
	b := a + uint64(len(payload))
	if a > s.next {
		// Bytes before it were not seen (dropped before the queue): TCP
		// sends them again, then this.
		return append(c.out, Verdict{ID: id, Drop: true})
	}
	if b > s.next {
		if err := c.read(dir, payload[s.next-a:], s.next); err != nil {
			return c.fail(id, err)
		}
		s.next = b
	}
	if dir == FromTarget || s.done {
		// Nothing of the target's is ever rewritten: no need to wait.
		return append(c.out, Verdict{ID: id})
	}
	if len(s.held) == maxHeld {
		return c.fail(id, fmt.Errorf("%d packets wait for one header", maxHeld))
	}
	s.held = append(s.held, held{id: id, a: a, b: b})
	return s.release(c.out)
}

// fail stops the connection: this packet and every held one are dropped.
func (c *Conn) fail(id uint32, err error) []Verdict {
	c.err = fmt.Errorf("%w: %w", ErrBroken, err)
	return c.dropAll(id)
}

func (c *Conn) dropAll(id uint32) []Verdict {
	c.out = append(c.out, Verdict{ID: id, Drop: true})
	return c.dropHeld()
}

// Abandon drops every packet the connection holds, for a connection the
// caller stops following.
func (c *Conn) Abandon() []Verdict {
	c.out = c.out[:0]
	return c.dropHeld()
}

func (c *Conn) dropHeld() []Verdict {
	out := c.dirs[FromInitiator].dropHeld(c.out)
	out = c.dirs[FromTarget].dropHeld(out)
	c.out = out
	return out
}

// read parses the stream bytes p, which start at stream offset off.
func (c *Conn) read(dir Dir, p []byte, off uint64) error {
	s := &c.dirs[dir]
	for len(p) > 0 && !s.done {
		if s.skip > 0 {
			n := int(min(s.skip, uint64(len(p))))
			if s.gather {
				s.text = append(s.text, p[:n]...)
			}
			s.skip -= uint64(n)
			p, off = p[n:], off+uint64(n)
			if s.skip == 0 {
				if err := c.dataEnd(dir); err != nil {
					return err
				}
			}
			continue
		}
		if s.need == 0 {
			s.need, s.pduStart, s.hdr = pdu.BHSLen, off, s.hdr[:0]
		}
		n := min(s.need-len(s.hdr), len(p))
		s.hdr = append(s.hdr, p[:n]...)
		p, off = p[n:], off+uint64(n)
		if len(s.hdr) < s.need {
			continue
		}
		if s.need == pdu.BHSLen {
			full, err := c.headerLen(dir, s.hdr)
			if err != nil {
				return err
			}
			if full > pdu.BHSLen {
				s.need = full
				continue
			}
		}
		if err := c.header(dir); err != nil {
			return err
		}
		s.need = 0
		if s.skip == 0 {
			if err := c.dataEnd(dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromInitiator are the opcodes an initiator may send (RFC 7143 11.1.1).
var fromInitiator = [64]bool{
	pdu.OpNOPOut: true, pdu.OpSCSICommand: true, pdu.OpTaskMgmtReq: true, pdu.OpLoginReq: true,
	pdu.OpTextReq: true, pdu.OpDataOut: true, pdu.OpLogoutReq: true, pdu.OpSNACK: true,
}

// headerLen checks a BHS and returns its whole header's length (AHS and
// header digest included). The first full feature PDU of the initiator is
// where the login must have ended, and where the target's side stops being
// followed.
func (c *Conn) headerLen(dir Dir, bhs []byte) (int, error) {
	op := pdu.Opcode(bhs[0] & 0x3f)
	full := pdu.BHSLen + int(bhs[4])*4
	if dir == FromTarget {
		if bhs[0]&0xc0 != 0 {
			return 0, fmt.Errorf("target sent a PDU with the I or reserved bit set (%#x)", bhs[0])
		}
		return full, nil
	}
	if bhs[0]&0x80 != 0 || !fromInitiator[op] {
		return 0, fmt.Errorf("initiator sent opcode %#x, which is not an initiator's", bhs[0])
	}
	if op == pdu.OpLoginReq {
		if c.loginEnded {
			return 0, fmt.Errorf("initiator sent a Login Request after the login ended")
		}
		return full, nil
	}
	if !c.loginEnded {
		return 0, fmt.Errorf("initiator sent %s before the guard saw the login end", op)
	}
	if t := &c.dirs[FromTarget]; !t.done {
		t.done = true
	}
	if c.digests.Header {
		full += 4
	}
	return full, nil
}

// header acts on a whole header: the policy's decision for a SCSI command,
// the login text to gather, a redirect to refuse. It sets what data
// follows.
func (c *Conn) header(dir Dir) error {
	s := &c.dirs[dir]
	var p pdu.PDU
	copy(p.BHS[:], s.hdr)
	op := p.Opcode()
	s.dsl = p.DataSegmentLength()
	s.skip = uint64((s.dsl + 3) &^ 3)
	login := op == pdu.OpLoginReq || op == pdu.OpLoginResp
	if !login && c.digests.Data && s.dsl > 0 {
		s.skip += 4
	}
	s.gather = login
	if login {
		if s.dsl > maxLoginData {
			return fmt.Errorf("%s with %d bytes of login text", op, s.dsl)
		}
		_, s.login.cont, _, _ = p.LoginFlags()
		s.login.ends = false
	}
	switch {
	case dir == FromTarget && op == pdu.OpLoginResp:
		if class, detail := p.LoginStatus(); class == 1 {
			// The initiator would log in at a portal without the guard.
			return fmt.Errorf("target redirects the initiator (login status 1/%d)", detail)
		}
		s.login.ends = p.EndsLogin()
	case dir == FromInitiator && op == pdu.OpSCSICommand:
		c.command(s, &p)
	}
	return nil
}

// command applies the policy to a SCSI command. The decision reads the CDB
// in the BHS: the operation code and every service action live in its
// first 16 bytes, so an extended CDB in an AHS cannot hide one.
func (c *Conn) command(s *stream, p *pdu.PDU) {
	d := c.policy().Decide(p.BHS[pdu.OffCDB : pdu.OffCDB+16])
	if c.onCommand != nil {
		c.onCommand(d, p.LUN())
	}
	if d.Allow {
		return
	}
	s.addEdit(s.pduStart+pdu.OffCDB, []byte{refusedOpcode})
	if c.digests.Header {
		ahsEnd := pdu.BHSLen + p.TotalAHSLength()*4
		hdr := append([]byte(nil), s.hdr[:ahsEnd]...)
		hdr[pdu.OffCDB] = refusedOpcode
		sum := binary.LittleEndian.AppendUint32(nil, pdu.CRC32C(hdr))
		s.addEdit(s.pduStart+uint64(ahsEnd), sum)
	}
}

// dataEnd closes the PDU whose data just passed: login text goes to the
// negotiation, and the target's final Login Response sets the digests.
func (c *Conn) dataEnd(dir Dir) error {
	s := &c.dirs[dir]
	if !s.gather {
		return nil
	}
	side := pdu.Initiator
	if dir == FromTarget {
		side = pdu.Target
	}
	err := c.neg.Add(side, s.text[:s.dsl], s.login.cont)
	s.gather, s.text = false, s.text[:0]
	if err != nil {
		return err
	}
	if dir == FromTarget && s.login.ends {
		params, err := c.neg.Params()
		if err != nil {
			return err
		}
		c.loginEnded = true
		c.digests = pdu.Digests{Header: params.HeaderDigest, Data: params.DataDigest}
		if c.OnLogin != nil {
			if err := c.OnLogin(params); err != nil {
				return err
			}
		}
	}
	return nil
}
