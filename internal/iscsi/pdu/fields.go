package pdu

import "encoding/binary"

// Login stages (CSG/NSG).
const (
	StageSecurity    = 0
	StageOperational = 1
	StageFullFeature = 3
)

// LoginFlags reads byte 1 of a Login Request or Response: T, C, CSG, NSG.
func (p *PDU) LoginFlags() (transit, cont bool, csg, nsg int) {
	f := p.BHS[1]
	return f&FlagTransit != 0, f&FlagContinue != 0, int(f>>2) & 3, int(f) & 3
}

// LoginStatus reads a Login Response's Status-Class and Status-Detail.
func (p *PDU) LoginStatus() (class, detail byte) { return p.BHS[36], p.BHS[37] }

// EndsLogin says whether a Login Response completes the login: transit to
// the full feature phase with a success status. Digests start with the
// next PDU in each direction.
func (p *PDU) EndsLogin() bool {
	transit, _, _, nsg := p.LoginFlags()
	class, _ := p.LoginStatus()
	return p.Opcode() == OpLoginResp && transit && nsg == StageFullFeature && class == 0
}

// SCSI status codes and sense keys the proxy and its tests use.
const (
	StatusGood           = 0x00
	StatusCheckCondition = 0x02
	SenseIllegalRequest  = 0x05
	// ASC/ASCQ INVALID COMMAND OPERATION CODE.
	ASCInvalidOpcode = 0x20
)

// FixedSense builds 18 bytes of fixed-format sense data (SPC-4 4.5.3).
func FixedSense(key, asc, ascq byte) []byte {
	s := make([]byte, 18)
	s[0] = 0x70 // current error, fixed format
	s[2] = key & 0x0f
	s[7] = 10 // additional sense length
	s[12], s[13] = asc, ascq
	return s
}

// SenseData is a SCSI Response data segment carrying sense: a 2-byte
// SenseLength and the sense bytes.
func SenseData(sense []byte) []byte {
	b := make([]byte, 2+len(sense))
	binary.BigEndian.PutUint16(b, uint16(len(sense)))
	copy(b[2:], sense)
	return b
}

// Sense reads the sense bytes of a SCSI Response's data segment (empty when
// there is none or it is malformed).
func Sense(data []byte) []byte {
	if len(data) < 2 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(data))
	if 2+n > len(data) {
		return nil
	}
	return data[2 : 2+n]
}

// SenseKey reads key, ASC and ASCQ from fixed or descriptor sense data.
func SenseKey(sense []byte) (key, asc, ascq byte, ok bool) {
	if len(sense) < 1 {
		return 0, 0, 0, false
	}
	switch sense[0] & 0x7f {
	case 0x70, 0x71:
		if len(sense) < 14 {
			return 0, 0, 0, false
		}
		return sense[2] & 0x0f, sense[12], sense[13], true
	case 0x72, 0x73:
		if len(sense) < 4 {
			return 0, 0, 0, false
		}
		return sense[1] & 0x0f, sense[2], sense[3], true
	}
	return 0, 0, 0, false
}
