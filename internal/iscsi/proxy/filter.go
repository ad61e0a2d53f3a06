package proxy

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// maxRefusedOutstanding bounds the refused commands of one connection that
// still wait for their stand-in's status; an initiator past it is dropped.
const maxRefusedOutstanding = 4096

// maxSwallowed is how many recently refused commands' Data-Out the proxy
// keeps dropping.
const maxSwallowed = 1024

// ErrProtocol is a PDU stream the proxy will not forward because it cannot
// keep its guarantee on it; the connection is closed.
var ErrProtocol = errors.New("iscsi proxy: protocol violation")

// refusal is what the proxy keeps about a refused command until the target
// answers the TEST UNIT READY that stood in for it.
type refusal struct {
	// expLen and bidiLen are the lengths the initiator expected, reported
	// back as residuals: nothing was transferred.
	expLen, bidiLen uint32
}

// filter is the wire logic of one proxied connection. fromInitiator runs on
// the initiator-to-target goroutine, fromTarget on the other; they share the
// refused table and the negotiated digests.
type filter struct {
	policy func() *scsipolicy.Policy
	// onCommand is told about every SCSI command and the decision.
	onCommand func(d scsipolicy.Decision, itt uint32, lun uint64)
	// onLogin, when set, is told the parameters of a completed login.
	onLogin func(pdu.Params)

	hdrDigest, dataDigest atomic.Bool

	negMu sync.Mutex
	neg   *pdu.Negotiation

	mu      sync.Mutex
	refused map[uint32]refusal

	// swallow holds the ITTs whose Data-Out is dropped: the last
	// maxSwallowed refused ones (swallowOrder, oldest first), since
	// unsolicited data follows its command closely and an initiator that
	// never reuses tags must not grow the set forever. Only the
	// initiator-side goroutine touches them and out.
	swallow      map[uint32]struct{}
	swallowOrder []uint32
	out          []byte
}

func newFilter(policy func() *scsipolicy.Policy, onCommand func(scsipolicy.Decision, uint32, uint64)) *filter {
	return &filter{policy: policy, onCommand: onCommand, neg: pdu.NewNegotiation(),
		refused: map[uint32]refusal{}, swallow: map[uint32]struct{}{}}
}

// digests are the digests in force (none until the login completes).
func (f *filter) digests() pdu.Digests {
	return pdu.Digests{Header: f.hdrDigest.Load(), Data: f.dataDigest.Load()}
}

// action is what the I/O loop does with a PDU it read the header of.
type action int

const (
	// forward sends the PDU on as it came (its data streamed).
	forward action = iota
	// replace sends out instead (nothing when out is empty) and discards
	// the PDU's data.
	replace
)

// dataFunc reads the rest of the PDU whose header the filter is looking at
// and returns its data segment.
type dataFunc func() ([]byte, error)

// fromInitiator decides what to do with a PDU the initiator sent.
// waitLogin says the caller must not read the initiator's next PDU before
// the target answered this login request, because that answer decides how
// the next PDU is framed.
func (f *filter) fromInitiator(p *pdu.PDU, data dataFunc) (act action, out []byte, waitLogin bool, err error) {
	switch p.Opcode() {
	case pdu.OpLoginReq:
		text, err := data()
		if err != nil {
			return replace, nil, false, err
		}
		_, cont, _, _ := p.LoginFlags()
		f.negMu.Lock()
		err = f.neg.Add(pdu.Initiator, text, cont)
		f.negMu.Unlock()
		if err != nil {
			return replace, nil, false, err
		}
		return forward, nil, true, nil
	case pdu.OpSCSICommand:
		act, out, err := f.command(p)
		return act, out, false, err
	case pdu.OpDataOut:
		if _, ok := f.swallow[p.ITT()]; ok {
			return replace, nil, false, nil
		}
	}
	return forward, nil, false, nil
}

// command applies the policy to a SCSI Command. The decision reads the CDB
// in the BHS: the operation code and every service action live in its
// first 16 bytes, so a malformed extended CDB AHS cannot hide one.
func (f *filter) command(p *pdu.PDU) (action, []byte, error) {
	itt := p.ITT()
	delete(f.swallow, itt)
	d := f.policy().Decide(p.BHS[pdu.OffCDB : pdu.OffCDB+16])
	f.onCommand(d, itt, p.LUN())
	if d.Allow {
		f.mu.Lock()
		delete(f.refused, itt) // an ITT reused after an aborted refusal
		f.mu.Unlock()
		return forward, nil, nil
	}
	r := refusal{expLen: p.U32(pdu.OffField1)}
	if segs, err := p.Segments(); err == nil {
		for _, s := range segs {
			if s.Type == pdu.AHSBidiReadLen && len(s.Data) == 5 {
				r.bidiLen = uint32(s.Data[1])<<24 | uint32(s.Data[2])<<16 | uint32(s.Data[3])<<8 | uint32(s.Data[4])
			}
		}
	}
	f.mu.Lock()
	if len(f.refused) >= maxRefusedOutstanding {
		f.mu.Unlock()
		return replace, nil, fmt.Errorf("%w: %d refused commands without status", ErrProtocol, len(f.refused))
	}
	f.refused[itt] = r
	f.mu.Unlock()
	f.swallow[itt] = struct{}{}
	f.swallowOrder = append(f.swallowOrder, itt)
	if len(f.swallowOrder) > maxSwallowed {
		old := f.swallowOrder[0]
		f.swallowOrder = f.swallowOrder[1:]
		if !slices.Contains(f.swallowOrder, old) {
			delete(f.swallow, old)
		}
	}

	// The stand-in: same I bit, ATTR, LUN, ITT, CmdSN and ExpStatSN; TEST
	// UNIT READY, no data expected, final (no unsolicited data follows).
	var tur pdu.PDU
	tur.BHS = p.BHS
	tur.BHS[1] = pdu.FlagFinal | p.BHS[1]&0x07
	tur.SetU32(pdu.OffField1, 0)
	tur.SetCDB(nil)
	out, err := tur.Encode(f.out[:0], f.digests())
	f.out = out
	return replace, out, err
}

// fromTarget decides what to do with a PDU the target sent; a rewritten
// PDU is encoded into buf. loginAnswered says it was a Login Response
// (after which the initiator side may read on, with the digests now in
// force).
func (f *filter) fromTarget(p *pdu.PDU, data dataFunc, buf []byte) (act action, out []byte, loginAnswered bool, err error) {
	switch p.Opcode() {
	case pdu.OpLoginResp:
		if class, _ := p.LoginStatus(); class == 1 {
			// A redirect would send the initiator to a portal without the
			// proxy in the path.
			return replace, nil, true, fmt.Errorf("%w: target redirects the initiator (login status 1/%d)", ErrProtocol, p.BHS[37])
		}
		text, err := data()
		if err != nil {
			return replace, nil, true, err
		}
		_, cont, _, _ := p.LoginFlags()
		f.negMu.Lock()
		defer f.negMu.Unlock()
		if err := f.neg.Add(pdu.Target, text, cont); err != nil {
			return replace, nil, true, err
		}
		if p.EndsLogin() {
			params, err := f.neg.Params()
			if err != nil {
				return replace, nil, true, err
			}
			f.hdrDigest.Store(params.HeaderDigest)
			f.dataDigest.Store(params.DataDigest)
			if f.onLogin != nil {
				f.onLogin(params)
			}
		}
		return forward, nil, true, nil
	case pdu.OpSCSIResponse:
		if r, ok := f.takeRefusal(p.ITT()); ok {
			sense, err := data()
			if err != nil {
				return replace, nil, false, err
			}
			out, err := f.refusedStatus(p, sense, r, buf)
			return replace, out, false, err
		}
	case pdu.OpDataIn:
		if p.BHS[1]&pdu.FlagStatus == 0 {
			if f.isRefused(p.ITT()) {
				return replace, nil, false, nil // no data of a refused command reaches the initiator
			}
			break
		}
		if r, ok := f.takeRefusal(p.ITT()); ok {
			// Status in a Data-In: answer with a SCSI Response instead.
			var resp pdu.PDU
			resp.BHS = p.BHS
			resp.SetOpcode(pdu.OpSCSIResponse, false)
			resp.BHS[2] = 0               // response: command completed at target
			resp.SetU32(pdu.OffField1, 0) // SNACK Tag, where Data-In has its TTT
			out, err := f.refusedStatus(&resp, nil, r, buf)
			return replace, out, false, err
		}
	case pdu.OpR2T:
		if f.isRefused(p.ITT()) {
			return replace, nil, false, fmt.Errorf("%w: target asked for data of TEST UNIT READY (ITT %#x)", ErrProtocol, p.ITT())
		}
	}
	return forward, nil, false, nil
}

func (f *filter) takeRefusal(itt uint32) (refusal, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.refused[itt]
	if ok {
		delete(f.refused, itt)
	}
	return r, ok
}

func (f *filter) isRefused(itt uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.refused[itt]
	return ok
}

// refusedStatus rewrites the target's status for a stand-in TEST UNIT READY
// into the refused command's status. GOOD becomes CHECK CONDITION, ILLEGAL
// REQUEST, INVALID COMMAND OPERATION CODE. Any other status (a unit
// attention, BUSY, RESERVATION CONFLICT, a target failure) passes as the
// target sent it, so the initiator sees it and retries the command, which
// is then refused again: no condition the target reports is lost.
// StatSN, ExpCmdSN and MaxCmdSN stay the target's.
func (f *filter) refusedStatus(p *pdu.PDU, data []byte, r refusal, buf []byte) ([]byte, error) {
	var resp pdu.PDU
	resp.BHS = p.BHS
	resp.Data = data
	if resp.BHS[2] == 0 && resp.BHS[3] == pdu.StatusGood {
		resp.BHS[3] = pdu.StatusCheckCondition
		resp.Data = pdu.SenseData(pdu.FixedSense(pdu.SenseIllegalRequest, pdu.ASCInvalidOpcode, 0))
	}
	resp.BHS[1] = pdu.FlagFinal
	resp.SetU32(pdu.OffField5, 0) // ExpDataSN: no Data-In was sent
	resp.SetU32(pdu.OffField6, r.bidiLen)
	resp.SetU32(pdu.OffField7, r.expLen)
	if r.bidiLen > 0 {
		resp.BHS[1] |= pdu.FlagBidiUnderflow
	}
	if r.expLen > 0 {
		resp.BHS[1] |= pdu.FlagUnderflow
	}
	return resp.Encode(buf[:0], f.digests())
}
