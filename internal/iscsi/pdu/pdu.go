package pdu

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BHSLen is the length of the basic header segment.
const BHSLen = 48

// MaxDataSegment is the largest DataSegmentLength the 24-bit field holds.
const MaxDataSegment = 1<<24 - 1

// Opcode is the iSCSI opcode in the low six bits of BHS byte 0.
type Opcode uint8

// The opcodes of RFC 7143 section 11.
const (
	OpNOPOut       Opcode = 0x00
	OpSCSICommand  Opcode = 0x01
	OpTaskMgmtReq  Opcode = 0x02
	OpLoginReq     Opcode = 0x03
	OpTextReq      Opcode = 0x04
	OpDataOut      Opcode = 0x05
	OpLogoutReq    Opcode = 0x06
	OpSNACK        Opcode = 0x10
	OpNOPIn        Opcode = 0x20
	OpSCSIResponse Opcode = 0x21
	OpTaskMgmtResp Opcode = 0x22
	OpLoginResp    Opcode = 0x23
	OpTextResp     Opcode = 0x24
	OpDataIn       Opcode = 0x25
	OpLogoutResp   Opcode = 0x26
	OpR2T          Opcode = 0x31
	OpAsync        Opcode = 0x32
	OpReject       Opcode = 0x3f
)

var opcodeNames = map[Opcode]string{
	OpNOPOut: "NOP-Out", OpSCSICommand: "SCSI Command", OpTaskMgmtReq: "Task Management Request",
	OpLoginReq: "Login Request", OpTextReq: "Text Request", OpDataOut: "SCSI Data-Out",
	OpLogoutReq: "Logout Request", OpSNACK: "SNACK Request", OpNOPIn: "NOP-In",
	OpSCSIResponse: "SCSI Response", OpTaskMgmtResp: "Task Management Response",
	OpLoginResp: "Login Response", OpTextResp: "Text Response", OpDataIn: "SCSI Data-In",
	OpLogoutResp: "Logout Response", OpR2T: "Ready To Transfer", OpAsync: "Asynchronous Message",
	OpReject: "Reject",
}

func (o Opcode) String() string {
	if n, ok := opcodeNames[o]; ok {
		return n
	}
	return fmt.Sprintf("opcode 0x%02x", uint8(o))
}

// Flag bits of BHS byte 1.
const (
	FlagFinal = 0x80 // F: final PDU of a sequence (also Login/Text T is 0x80)
	// SCSI Command
	FlagRead  = 0x40
	FlagWrite = 0x20
	// SCSI Response and Data-In residual flags
	FlagBidiOverflow  = 0x10
	FlagBidiUnderflow = 0x08
	FlagOverflow      = 0x04
	FlagUnderflow     = 0x02
	FlagStatus        = 0x01 // Data-In S: carries status
	// Login and Text
	FlagTransit  = 0x80
	FlagContinue = 0x40
)

// Immediate is the I bit of BHS byte 0 (request delivered immediately).
const Immediate = 0x40

// AHS types (RFC 7143 11.2.1.2).
const (
	AHSExtendedCDB  = 1
	AHSBidiReadLen  = 2
	maxTotalAHSWord = 255
)

// Byte offsets of the BHS fields the codec and the proxy read and write.
const (
	OffLUN    = 8
	OffITT    = 16
	OffField1 = 20 // ExpectedDataTransferLength, TTT, SNACK Tag, RefTaskTag
	OffField2 = 24 // CmdSN (requests), StatSN (responses)
	OffField3 = 28 // ExpStatSN (requests), ExpCmdSN (responses)
	OffField4 = 32 // MaxCmdSN (responses), CDB start (SCSI Command)
	OffField5 = 36 // ExpDataSN, DataSN, R2TSN, Login Status-Class
	OffField6 = 40 // Buffer Offset, Bidi residual
	OffField7 = 44 // Residual count, Desired Data Transfer Length
	OffCDB    = 32
)

// Errors of decoding.
var (
	// ErrHeaderDigest: the header digest does not match the header.
	ErrHeaderDigest = errors.New("iscsi: header digest mismatch")
	// ErrDataDigest: the data digest does not match the data segment.
	ErrDataDigest = errors.New("iscsi: data digest mismatch")
	// ErrTooLarge: the data segment is longer than the reader accepts.
	ErrTooLarge = errors.New("iscsi: data segment too large")
	// ErrMalformed: the PDU's own lengths contradict each other.
	ErrMalformed = errors.New("iscsi: malformed PDU")
)

// Digests says which CRC32C digests the connection negotiated; both are off
// during login.
type Digests struct {
	Header, Data bool
}

// PDU is one protocol data unit. AHS is kept as on the wire (a multiple of 4
// bytes); Data is the data segment without padding. The length fields of BHS
// are set from them by Encode.
type PDU struct {
	BHS  [BHSLen]byte
	AHS  []byte
	Data []byte
}

// Opcode is the PDU's opcode.
func (p *PDU) Opcode() Opcode { return Opcode(p.BHS[0] & 0x3f) }

// SetOpcode sets the opcode and the immediate bit.
func (p *PDU) SetOpcode(op Opcode, immediate bool) {
	p.BHS[0] = byte(op) & 0x3f
	if immediate {
		p.BHS[0] |= Immediate
	}
}

// Immediate reports the I bit.
func (p *PDU) Immediate() bool { return p.BHS[0]&Immediate != 0 }

// Flags is BHS byte 1.
func (p *PDU) Flags() byte { return p.BHS[1] }

// Final reports the F (or T) bit.
func (p *PDU) Final() bool { return p.BHS[1]&FlagFinal != 0 }

// TotalAHSLength is the AHS length in 4-byte words, from the BHS.
func (p *PDU) TotalAHSLength() int { return int(p.BHS[4]) }

// DataSegmentLength is the data length without padding, from the BHS.
func (p *PDU) DataSegmentLength() int {
	return int(p.BHS[5])<<16 | int(p.BHS[6])<<8 | int(p.BHS[7])
}

// LUN is BHS bytes 8-15.
func (p *PDU) LUN() uint64 { return binary.BigEndian.Uint64(p.BHS[OffLUN:]) }

// ITT is the initiator task tag.
func (p *PDU) ITT() uint32 { return p.U32(OffITT) }

// U32 reads the big-endian 32-bit field at a BHS offset.
func (p *PDU) U32(off int) uint32 { return binary.BigEndian.Uint32(p.BHS[off:]) }

// SetU32 writes a big-endian 32-bit field at a BHS offset.
func (p *PDU) SetU32(off int, v uint32) { binary.BigEndian.PutUint32(p.BHS[off:], v) }

// SetLUN writes BHS bytes 8-15.
func (p *PDU) SetLUN(lun uint64) { binary.BigEndian.PutUint64(p.BHS[OffLUN:], lun) }

// AHSegment is one additional header segment: its type and its
// AHS-specific bytes (for the extended CDB AHS, a reserved byte and then the
// CDB bytes past the 16th).
type AHSegment struct {
	Type byte
	Data []byte
}

// Segments splits AHS into its segments.
func (p *PDU) Segments() ([]AHSegment, error) {
	var segs []AHSegment
	b := p.AHS
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: AHS remainder of %d bytes", ErrMalformed, len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if 3+n > len(b) {
			return nil, fmt.Errorf("%w: AHSLength %d past the AHS", ErrMalformed, n)
		}
		segs = append(segs, AHSegment{Type: b[2], Data: b[3 : 3+n]})
		b = b[pad4(3+n):]
	}
	return segs, nil
}

// AddSegment appends an AHS segment with its padding.
func (p *PDU) AddSegment(typ byte, data []byte) {
	var h [3]byte
	binary.BigEndian.PutUint16(h[:], uint16(len(data)))
	h[2] = typ
	p.AHS = append(p.AHS, h[:]...)
	p.AHS = append(p.AHS, data...)
	for len(p.AHS)%4 != 0 {
		p.AHS = append(p.AHS, 0)
	}
}

// CDB returns a SCSI Command's CDB: the 16 bytes of the BHS followed by the
// bytes of an extended CDB AHS, if any.
func (p *PDU) CDB() ([]byte, error) {
	if len(p.AHS) == 0 {
		return p.BHS[OffCDB : OffCDB+16], nil
	}
	segs, err := p.Segments()
	if err != nil {
		return nil, err
	}
	cdb := append([]byte(nil), p.BHS[OffCDB:OffCDB+16]...)
	for _, s := range segs {
		if s.Type == AHSExtendedCDB {
			if len(s.Data) < 1 {
				return nil, fmt.Errorf("%w: empty extended CDB AHS", ErrMalformed)
			}
			cdb = append(cdb, s.Data[1:]...)
		}
	}
	return cdb, nil
}

// SetCDB stores a CDB: the first 16 bytes in the BHS (zero-padded), the
// rest in an extended CDB AHS that replaces any AHS the PDU had.
func (p *PDU) SetCDB(cdb []byte) {
	clear(p.BHS[OffCDB : OffCDB+16])
	copy(p.BHS[OffCDB:], cdb)
	p.AHS = nil
	if len(cdb) > 16 {
		p.AddSegment(AHSExtendedCDB, append([]byte{0}, cdb[16:]...))
	}
}

func pad4(n int) int { return (n + 3) &^ 3 }
