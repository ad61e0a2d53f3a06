package pdu

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
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

// Reader reads PDUs from a stream, reusing one buffer: what it returns is
// valid until the next PDU is read. A PDU can be read whole (Next) or in two
// steps (Header, then Data, Forward or Skip), so that a proxy decides on the
// header and streams large data segments without holding them.
type Reader struct {
	src io.Reader
	br  *bufio.Reader
	// MaxData bounds DataSegmentLength; larger PDUs fail with ErrTooLarge
	// before their data is read. Zero means MaxDataSegment.
	MaxData int
	// VerifyData makes Data and Next check data digests (header digests are
	// always checked). Forward and Skip never check them.
	VerifyData bool
	buf        []byte
	cbuf       []byte
	// the PDU being read: its digests, header and frame lengths, unread
	// bytes and whether Data read it whole
	d                Digests
	hdrLen, frameLen int
	pending          int
	whole            bool
}

// NewReader reads PDUs from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r, br: bufio.NewReaderSize(r, 64<<10), VerifyData: true}
}

// Frame is one PDU as read: the decoded PDU and its wire bytes (after
// Header, only the header's).
type Frame struct {
	PDU PDU
	Raw []byte
}

// streamAbove is the data segment size from which Forward streams instead
// of reading the PDU whole and writing it at once.
const streamAbove = 16 << 10

// Next reads the next PDU whole with the digests d. Errors from the stream
// are returned as they are (io.EOF before a PDU starts, io.ErrUnexpectedEOF
// inside one).
func (r *Reader) Next(f *Frame, d Digests) error {
	if err := r.Header(f, d); err != nil {
		return err
	}
	return r.Data(f)
}

// Header reads the next PDU's BHS, AHS and header digest (checked). The
// rest must be consumed with Data, Forward or Skip before the next Header.
func (r *Reader) Header(f *Frame, d Digests) error {
	if r.pending > 0 {
		if err := r.Skip(); err != nil {
			return err
		}
	}
	if cap(r.buf) < BHSLen+4 {
		r.buf = make([]byte, 0, 64<<10)
	}
	if _, err := io.ReadFull(r.br, r.buf[:BHSLen]); err != nil {
		return err
	}
	f.PDU = PDU{}
	copy(f.PDU.BHS[:], r.buf[:BHSLen])
	limit := r.MaxData
	if limit == 0 {
		limit = MaxDataSegment
	}
	if f.PDU.DataSegmentLength() > limit {
		return fmt.Errorf("%w: %d bytes, limit %d (%s)", ErrTooLarge, f.PDU.DataSegmentLength(), limit, f.PDU.Opcode())
	}
	hdr := BHSLen + f.PDU.TotalAHSLength()*4
	if d.Header {
		hdr += 4
	}
	if cap(r.buf) < hdr {
		nb := make([]byte, hdr, max(hdr, 64<<10))
		copy(nb, r.buf[:BHSLen])
		r.buf = nb
	}
	buf := r.buf[:hdr]
	if err := readFull(r.br, buf[BHSLen:]); err != nil {
		return err
	}
	ahsEnd := BHSLen + f.PDU.TotalAHSLength()*4
	f.PDU.AHS = buf[BHSLen:ahsEnd:ahsEnd]
	if d.Header && binary.LittleEndian.Uint32(buf[ahsEnd:]) != CRC32C(buf[:ahsEnd]) {
		return ErrHeaderDigest
	}
	f.Raw = buf
	r.d, r.hdrLen, r.frameLen, r.whole = d, hdr, WireLen(&f.PDU.BHS, d), false
	r.pending = r.frameLen - hdr
	return nil
}

// Data reads the rest of the PDU after Header: f.PDU.Data is its data
// segment and f.Raw the whole frame.
func (r *Reader) Data(f *Frame) error {
	if r.whole {
		return nil
	}
	if r.pending != r.frameLen-r.hdrLen {
		return fmt.Errorf("%w: PDU data already partly consumed", ErrMalformed)
	}
	n := r.frameLen
	if cap(r.buf) < n {
		nb := make([]byte, n)
		copy(nb, r.buf[:r.hdrLen])
		r.buf = nb
		ahsEnd := BHSLen + f.PDU.TotalAHSLength()*4
		f.PDU.AHS = r.buf[BHSLen:ahsEnd:ahsEnd]
	}
	frame := r.buf[:n]
	err := readFull(r.br, frame[r.hdrLen:])
	r.pending = 0
	if err != nil {
		return err
	}
	f.Raw = frame
	r.whole = true
	dl := f.PDU.DataSegmentLength()
	f.PDU.Data = frame[r.hdrLen : r.hdrLen+dl : r.hdrLen+dl]
	if dl > 0 && r.d.Data && r.VerifyData {
		end := r.hdrLen + pad4(dl)
		if binary.LittleEndian.Uint32(frame[end:]) != CRC32C(frame[r.hdrLen:end]) {
			return ErrDataDigest
		}
	}
	return nil
}

// Forward writes the PDU whose header was just read to w, as it came:
// header, data segment, padding and digests. A large data segment is
// streamed (spliced between sockets when w and the source allow) rather
// than held.
func (r *Reader) Forward(f *Frame, w io.Writer) error {
	if r.pending <= streamAbove {
		if err := r.Data(f); err != nil {
			return err
		}
		_, err := w.Write(f.Raw)
		return err
	}
	// The header and what the buffer already holds of the data go in one
	// write (writev on a socket), the rest as it arrives.
	b, _ := r.br.Peek(min(r.pending, r.br.Buffered()))
	bufs := net.Buffers{f.Raw[:r.hdrLen], b}
	if _, err := bufs.WriteTo(w); err != nil {
		return err
	}
	_, _ = r.br.Discard(len(b))
	r.pending -= len(b)
	return r.copyPending(w)
}

// Skip discards the rest of the PDU.
func (r *Reader) Skip() error { return r.copyPending(io.Discard) }

// copyPending writes the unread rest of the PDU to w as it arrives: first
// what the buffer holds, then straight reads of up to 256 KiB, so a large
// data segment passes without waiting for all of it (cut-through).
func (r *Reader) copyPending(w io.Writer) error {
	for r.pending > 0 && r.br.Buffered() > 0 {
		b, _ := r.br.Peek(min(r.pending, r.br.Buffered()))
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, _ = r.br.Discard(len(b))
		r.pending -= len(b)
	}
	if r.pending > 0 && cap(r.cbuf) == 0 {
		r.cbuf = make([]byte, 256<<10)
	}
	for r.pending > 0 {
		n, err := r.src.Read(r.cbuf[:min(r.pending, len(r.cbuf))])
		if n > 0 {
			r.pending -= n
			if _, werr := w.Write(r.cbuf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			if err == io.EOF && r.pending > 0 {
				err = io.ErrUnexpectedEOF
			}
			if r.pending > 0 {
				return err
			}
		}
	}
	return nil
}

func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
