package scsipolicy

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Op is what a rule matches and what Decide reports: an operation code and,
// for the commands that carry one, a service action.
type Op struct {
	Code byte
	// HasSA says whether ServiceAction is set. A rule without a service
	// action matches every service action of its operation code.
	HasSA         bool
	ServiceAction uint16
}

// String prints an Op the way ParseOp reads it: 0x5f or 0x5f/0x01.
func (o Op) String() string {
	if o.HasSA {
		return fmt.Sprintf("0x%02x/0x%02x", o.Code, o.ServiceAction)
	}
	return fmt.Sprintf("0x%02x", o.Code)
}

// Name is the command's SPC/SBC name for logs, or the hex form when unknown.
func (o Op) Name() string {
	if o.HasSA {
		if n, ok := saNames[o]; ok {
			return n
		}
	}
	if n, ok := opNames[o.Code]; ok {
		if o.HasSA {
			return fmt.Sprintf("%s/0x%02x", n, o.ServiceAction)
		}
		return n
	}
	return o.String()
}

// saField says where a command keeps its service action.
type saField uint8

const (
	saNone    saField = iota
	saByte1           // CDB byte 1, bits 4..0 (SPC-4 4.2.5.3)
	saBytes89         // variable-length CDB (0x7f): bytes 8..9
)

// saOpcodes lists the operation codes whose CDB carries a service action
// (SPC-4 and SBC-3).
var saOpcodes = map[byte]saField{
	0x48: saByte1,   // SANITIZE
	0x5e: saByte1,   // PERSISTENT RESERVE IN
	0x5f: saByte1,   // PERSISTENT RESERVE OUT
	0x7f: saBytes89, // variable length CDB (WRITE SAME(32), ...)
	0x83: saByte1,   // THIRD-PARTY COPY OUT (EXTENDED COPY)
	0x84: saByte1,   // THIRD-PARTY COPY IN (RECEIVE COPY RESULTS)
	0x8c: saByte1,   // READ ATTRIBUTE
	0x8d: saByte1,   // WRITE ATTRIBUTE
	0x94: saByte1,   // ZBC OUT
	0x95: saByte1,   // ZBC IN
	0x9e: saByte1,   // SERVICE ACTION IN(16)
	0x9f: saByte1,   // SERVICE ACTION OUT(16)
	0xa3: saByte1,   // MAINTENANCE IN
	0xa4: saByte1,   // MAINTENANCE OUT
	0xa9: saByte1,   // SERVICE ACTION OUT(12)
	0xab: saByte1,   // SERVICE ACTION IN(12)
}

// HasServiceAction says whether commands with this operation code carry a
// service action, so rules may name one.
func HasServiceAction(code byte) bool { return saOpcodes[code] != saNone }

// OpOf reads the operation code and service action of a CDB. ok is false
// when the CDB is empty or too short to hold its own service action.
func OpOf(cdb []byte) (op Op, ok bool) {
	if len(cdb) == 0 {
		return Op{}, false
	}
	op.Code = cdb[0]
	switch saOpcodes[op.Code] {
	case saByte1:
		if len(cdb) < 2 {
			return op, false
		}
		op.HasSA, op.ServiceAction = true, uint16(cdb[1]&0x1f)
	case saBytes89:
		if len(cdb) < 10 {
			return op, false
		}
		op.HasSA, op.ServiceAction = true, binary.BigEndian.Uint16(cdb[8:10])
	}
	return op, true
}

// ParseOp reads one rule: a hex operation code ("0x5f"), an operation code
// with a service action ("0x5f/0x00"), or a command name from the table
// below ("persistent-reserve-out", "unmap", "write-same-32"), case and
// separators (space, '-', '_') ignored.
func ParseOp(s string) (Op, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Op{}, fmt.Errorf("%w: empty rule", ErrInvalid)
	}
	if op, ok := opByName[normName(s)]; ok {
		return op, nil
	}
	codeStr, saStr, hasSA := strings.Cut(s, "/")
	code, err := parseNum(codeStr, 8)
	if err != nil {
		return Op{}, fmt.Errorf("%w: rule %q: operation code %q is neither a number 0x00-0xff nor a known command name", ErrInvalid, s, codeStr)
	}
	op := Op{Code: byte(code)}
	if !hasSA {
		return op, nil
	}
	if !HasServiceAction(op.Code) {
		return Op{}, fmt.Errorf("%w: rule %q: operation code 0x%02x (%s) has no service action", ErrInvalid, s, op.Code, op.Name())
	}
	bits := 5
	if saOpcodes[op.Code] == saBytes89 {
		bits = 16
	}
	sa, err := parseNum(saStr, bits)
	if err != nil {
		return Op{}, fmt.Errorf("%w: rule %q: service action %q must be a number below %d", ErrInvalid, s, saStr, 1<<bits)
	}
	op.HasSA, op.ServiceAction = true, uint16(sa)
	return op, nil
}

func parseNum(s string, bits int) (uint64, error) {
	s = strings.TrimSpace(s)
	base := 10
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = rest, 16
	}
	return strconv.ParseUint(s, base, bits)
}

func normName(s string) string {
	r := strings.NewReplacer(" ", "", "-", "", "_", "", "(", "", ")", "")
	return r.Replace(strings.ToLower(s))
}

// Where a CDB keeps its service action, as SAField reports it.
const (
	SAFieldNone    = int(saNone)
	SAFieldByte1   = int(saByte1)   // CDB byte 1, bits 4..0
	SAFieldBytes89 = int(saBytes89) // CDB bytes 8..9, big-endian
)

// SAField says where commands with this operation code keep their service
// action (SAFieldNone when they have none).
func SAField(code byte) int { return int(saOpcodes[code]) }
