package pdu

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is iSCSI's digest of b. On the wire it is sent least significant
// byte first (RFC 7143 appendix B.4: 32 zero bytes give aa 36 91 8a).
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// WireLen is the length on the wire of a PDU whose BHS is bhs: header, AHS,
// header digest, padded data segment, data digest.
func WireLen(bhs *[BHSLen]byte, d Digests) int {
	n := BHSLen + int(bhs[4])*4
	if d.Header {
		n += 4
	}
	dl := int(bhs[5])<<16 | int(bhs[6])<<8 | int(bhs[7])
	if dl > 0 {
		n += pad4(dl)
		if d.Data {
			n += 4
		}
	}
	return n
}

// Encode appends the PDU's wire form to dst. It sets TotalAHSLength and
// DataSegmentLength from AHS and Data and computes the digests d asks for.
func (p *PDU) Encode(dst []byte, d Digests) ([]byte, error) {
	if len(p.AHS)%4 != 0 || len(p.AHS)/4 > maxTotalAHSWord {
		return dst, fmt.Errorf("%w: AHS of %d bytes", ErrMalformed, len(p.AHS))
	}
	if len(p.Data) > MaxDataSegment {
		return dst, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(p.Data))
	}
	p.BHS[4] = byte(len(p.AHS) / 4)
	p.BHS[5], p.BHS[6], p.BHS[7] = byte(len(p.Data)>>16), byte(len(p.Data)>>8), byte(len(p.Data))
	start := len(dst)
	dst = append(dst, p.BHS[:]...)
	dst = append(dst, p.AHS...)
	if d.Header {
		dst = binary.LittleEndian.AppendUint32(dst, CRC32C(dst[start:]))
	}
	if len(p.Data) > 0 {
		ds := len(dst)
		dst = append(dst, p.Data...)
		for i := len(p.Data); i%4 != 0; i++ {
			dst = append(dst, 0)
		}
		if d.Data {
			dst = binary.LittleEndian.AppendUint32(dst, CRC32C(dst[ds:]))
		}
	}
	return dst, nil
}

// Decode reads one PDU from the start of b, which must hold it whole. The
// PDU's AHS and Data alias b. n is the number of bytes used; when b is too
// short, err is io.ErrUnexpectedEOF.
func Decode(b []byte, d Digests) (p *PDU, n int, err error) {
	if len(b) < BHSLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p = new(PDU)
	copy(p.BHS[:], b)
	n = WireLen(&p.BHS, d)
	if len(b) < n {
		return nil, 0, io.ErrUnexpectedEOF
	}
	if err := p.parseFrame(b[:n], d, true); err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// parseFrame fills AHS and Data from a whole frame and checks digests
// (the data digest only when verifyData).
func (p *PDU) parseFrame(frame []byte, d Digests, verifyData bool) error {
	ahsEnd := BHSLen + p.TotalAHSLength()*4
	p.AHS = frame[BHSLen:ahsEnd:ahsEnd]
	off := ahsEnd
	if d.Header {
		if binary.LittleEndian.Uint32(frame[off:]) != CRC32C(frame[:off]) {
			return ErrHeaderDigest
		}
		off += 4
	}
	dl := p.DataSegmentLength()
	p.Data = frame[off : off+dl : off+dl]
	if dl > 0 && d.Data && verifyData {
		padded := frame[off : off+pad4(dl)]
		if binary.LittleEndian.Uint32(frame[off+pad4(dl):]) != CRC32C(padded) {
			return ErrDataDigest
		}
	}
	return nil
}

// Reader reads PDUs from a stream, reusing one buffer: what Next returns is
// valid until the following call.
type Reader struct {
	r *bufio.Reader
	// MaxData bounds DataSegmentLength; larger PDUs fail with ErrTooLarge
	// before their data is read. Zero means MaxDataSegment.
	MaxData int
	// VerifyData makes Next check data digests (header digests are always
	// checked).
	VerifyData bool
	buf        []byte
}

// NewReader reads PDUs from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), VerifyData: true}
}

// Frame is one PDU as read: the decoded PDU and its exact wire bytes.
type Frame struct {
	PDU PDU
	Raw []byte
}

// Next reads the next PDU with the digests d. Errors from the stream are
// returned as they are (io.EOF before a PDU starts, io.ErrUnexpectedEOF
// inside one).
func (r *Reader) Next(f *Frame, d Digests) error {
	if cap(r.buf) < BHSLen {
		r.buf = make([]byte, 0, 64<<10)
	}
	if _, err := io.ReadFull(r.r, r.buf[:BHSLen]); err != nil {
		return err
	}
	copy(f.PDU.BHS[:], r.buf[:BHSLen])
	max := r.MaxData
	if max == 0 {
		max = MaxDataSegment
	}
	if f.PDU.DataSegmentLength() > max {
		return fmt.Errorf("%w: %d bytes, limit %d (%s)", ErrTooLarge, f.PDU.DataSegmentLength(), max, f.PDU.Opcode())
	}
	n := WireLen(&f.PDU.BHS, d)
	if cap(r.buf) < n {
		nb := make([]byte, n)
		copy(nb, r.buf[:BHSLen])
		r.buf = nb
	}
	frame := r.buf[:n]
	if _, err := io.ReadFull(r.r, frame[BHSLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	f.Raw = frame
	return f.PDU.parseFrame(frame, d, r.VerifyData)
}
