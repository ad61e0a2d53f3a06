package pdu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestCRC32CVectors(t *testing.T) {
	// RFC 3720 appendix B.4 (kept in RFC 7143): inputs and the digest bytes
	// as they appear on the wire.
	inc, dec := make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		inc[i], dec[i] = byte(i), byte(31-i)
	}
	read10 := []byte{
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	}
	tests := []struct {
		in   []byte
		wire []byte
	}{
		{make([]byte, 32), []byte{0xaa, 0x36, 0x91, 0x8a}},
		{bytes.Repeat([]byte{0xff}, 32), []byte{0x43, 0xab, 0xa8, 0x62}},
		{inc, []byte{0x4e, 0x79, 0xdd, 0x46}},
		{dec, []byte{0x5c, 0xdb, 0x3f, 0x11}},
		{read10, []byte{0x56, 0x3a, 0x96, 0xd9}},
	}
	for _, tt := range tests {
		got := binary.LittleEndian.AppendUint32(nil, CRC32C(tt.in))
		if !bytes.Equal(got, tt.wire) {
			t.Errorf("CRC32C(% x) on the wire = % x, want % x", tt.in[:8], got, tt.wire)
		}
	}
}

// scsiCommand builds a SCSI Command PDU.
func scsiCommand(itt uint32, cdb []byte, expLen uint32, data []byte) *PDU {
	p := &PDU{}
	p.SetOpcode(OpSCSICommand, false)
	p.BHS[1] = FlagFinal | FlagWrite | 1
	p.SetLUN(1 << 48)
	p.SetU32(OffITT, itt)
	p.SetU32(OffField1, expLen)
	p.SetU32(OffField2, 7)
	p.SetCDB(cdb)
	p.Data = data
	return p
}

func TestRoundTrip(t *testing.T) {
	cdb32 := make([]byte, 32)
	cdb32[0], cdb32[7], cdb32[9], cdb32[31] = 0x7f, 0x18, 0x0d, 0xee
	tests := []struct {
		name    string
		p       *PDU
		wireLen map[Digests]int
	}{
		{"16-byte cdb no data", scsiCommand(1, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, 4096, nil),
			map[Digests]int{{}: 48, {Header: true}: 52, {Header: true, Data: true}: 52}},
		{"immediate data with padding", scsiCommand(2, []byte{0x2a}, 5, []byte{1, 2, 3, 4, 5}),
			map[Digests]int{{}: 56, {Header: true}: 60, {Header: true, Data: true}: 64, {Data: true}: 60}},
		{"32-byte cdb in an AHS", scsiCommand(3, cdb32, 512, bytes.Repeat([]byte{9}, 512)),
			map[Digests]int{{}: 48 + 20 + 512, {Header: true, Data: true}: 48 + 20 + 4 + 512 + 4}},
	}
	for _, tt := range tests {
		for d, wantLen := range tt.wireLen {
			wire, err := tt.p.Encode(nil, d)
			if err != nil {
				t.Fatalf("%s %+v: Encode: %v", tt.name, d, err)
			}
			if len(wire) != wantLen || WireLen(&tt.p.BHS, d) != wantLen {
				t.Errorf("%s %+v: %d bytes (WireLen %d), want %d", tt.name, d, len(wire), WireLen(&tt.p.BHS, d), wantLen)
			}
			got, n, err := Decode(append(wire, 0xde, 0xad), d)
			if err != nil || n != len(wire) {
				t.Fatalf("%s %+v: Decode = %d, %v", tt.name, d, n, err)
			}
			if got.BHS != tt.p.BHS || !bytes.Equal(got.AHS, tt.p.AHS) || !bytes.Equal(got.Data, tt.p.Data) {
				t.Errorf("%s %+v: decoded %+v, want %+v", tt.name, d, got, tt.p)
			}
			wantCDB, _ := tt.p.CDB()
			if gotCDB, err := got.CDB(); err != nil || !bytes.Equal(gotCDB, wantCDB) {
				t.Errorf("%s: CDB = % x, %v; want % x", tt.name, gotCDB, err, wantCDB)
			}
		}
	}
	if cdb, _ := tests[2].p.CDB(); len(cdb) != 32 || cdb[31] != 0xee {
		t.Errorf("32-byte CDB read back as % x", cdb)
	}
}

func TestDecodeErrors(t *testing.T) {
	p := scsiCommand(9, []byte{0x2a}, 8, []byte("12345678"))
	d := Digests{Header: true, Data: true}
	wire, _ := p.Encode(nil, d)
	corrupt := func(i int) []byte { b := bytes.Clone(wire); b[i] ^= 1; return b }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short header", wire[:40], io.ErrUnexpectedEOF},
		{"short data", wire[:len(wire)-1], io.ErrUnexpectedEOF},
		{"header bit flip", corrupt(20), ErrHeaderDigest},
		{"header digest flip", corrupt(49), ErrHeaderDigest},
		{"data bit flip", corrupt(53), ErrDataDigest},
		{"data digest flip", corrupt(len(wire) - 1), ErrDataDigest},
	}
	for _, tt := range tests {
		if _, _, err := Decode(tt.in, d); !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode error %v, want %v", tt.name, err, tt.want)
		}
	}
	bad := &PDU{AHS: []byte{0, 9, 1, 0}}
	if _, err := bad.CDB(); !errors.Is(err, ErrMalformed) {
		t.Errorf("AHSLength past the AHS: CDB error %v", err)
	}
	if _, err := (&PDU{AHS: []byte{1}}).Encode(nil, Digests{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unaligned AHS: Encode error %v", err)
	}
}

func TestReaderSplitReads(t *testing.T) {
	d := Digests{Header: true, Data: true}
	var stream []byte
	var want []*PDU
	for i := range 20 {
		p := scsiCommand(uint32(i), []byte{0x2a, byte(i)}, uint32(i), bytes.Repeat([]byte{byte(i)}, i*37))
		stream, _ = p.Encode(stream, d)
		want = append(want, p)
	}
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	var f Frame
	for i, w := range want {
		if err := r.Next(&f, d); err != nil {
			t.Fatalf("PDU %d: %v", i, err)
		}
		if f.PDU.BHS != w.BHS || !bytes.Equal(f.PDU.Data, w.Data) {
			t.Fatalf("PDU %d differs", i)
		}
		enc, _ := w.Encode(nil, d)
		if !bytes.Equal(f.Raw, enc) {
			t.Fatalf("PDU %d: Raw differs from its encoding", i)
		}
	}
	if err := r.Next(&f, d); err != io.EOF {
		t.Errorf("after the last PDU: %v, want io.EOF", err)
	}
	r = NewReader(bytes.NewReader(stream))
	r.MaxData = 100
	for range 3 {
		if err := r.Next(&f, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Next(&f, d); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PDU with 111 bytes and MaxData 100: %v", err)
	}
	r = NewReader(bytes.NewReader(stream[:100]))
	if err := r.Next(&f, d); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(&f, d); err != io.ErrUnexpectedEOF {
		t.Errorf("stream cut inside a PDU: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	cdb32 := make([]byte, 32)
	cdb32[0] = 0x7f
	for _, p := range []*PDU{
		scsiCommand(1, []byte{0x28}, 512, nil),
		scsiCommand(2, []byte{0x2a}, 3, []byte{1, 2, 3}),
		scsiCommand(3, cdb32, 0, nil),
	} {
		for _, d := range []Digests{{}, {Header: true, Data: true}} {
			b, _ := p.Encode(nil, d)
			f.Add(b, d.Header, d.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, hd, dd bool) {
		d := Digests{Header: hd, Data: dd}
		p, n, err := Decode(b, d)
		r := NewReader(bytes.NewReader(b))
		var fr Frame
		rerr := r.Next(&fr, d)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Decode error %v but Reader error %v", err, rerr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(fr.Raw, b[:n]) {
			t.Fatal("Reader and Decode disagree on the frame")
		}
		var fwd bytes.Buffer
		r = NewReader(iotest.HalfReader(bytes.NewReader(b)))
		if err := r.Header(&fr, d); err != nil {
			t.Fatalf("Header: %v", err)
		}
		if err := r.Forward(&fr, &fwd); err != nil || !bytes.Equal(fwd.Bytes(), b[:n]) {
			t.Fatalf("Forward wrote %d bytes, want the %d of the frame: %v", fwd.Len(), n, err)
		}
		_, _ = p.CDB()
		_, _ = p.Segments()
		enc, err := p.Encode(nil, d)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, m, err := Decode(enc, d)
		if err != nil || m != len(enc) || q.BHS != p.BHS || !bytes.Equal(q.AHS, p.AHS) || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestReaderForwardAndSkip(t *testing.T) {
	d := Digests{Header: true, Data: true}
	var stream, want []byte
	for i := range 12 {
		size := []int{0, 100, streamAbove, streamAbove + 1, 256 << 10}[i%5]
		p := scsiCommand(uint32(i), []byte{0x2a, byte(i)}, uint32(size), bytes.Repeat([]byte{byte(i)}, size))
		before := len(stream)
		stream, _ = p.Encode(stream, d)
		if i%3 != 2 { // every third PDU is skipped
			want = append(want, stream[before:]...)
		}
	}
	for _, split := range []bool{false, true} {
		var src io.Reader = bytes.NewReader(stream)
		if split {
			src = iotest.OneByteReader(src)
		}
		r := NewReader(src)
		var out bytes.Buffer
		var f Frame
		for i := 0; ; i++ {
			err := r.Header(&f, d)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("PDU %d header: %v", i, err)
			}
			if f.PDU.ITT() != uint32(i) {
				t.Fatalf("PDU %d has ITT %d", i, f.PDU.ITT())
			}
			switch i % 3 {
			case 0:
				err = r.Forward(&f, &out)
			case 1:
				if err = r.Data(&f); err == nil {
					err = r.Forward(&f, &out) // after Data: the whole frame once
				}
			case 2:
				err = r.Skip()
			}
			if err != nil {
				t.Fatalf("PDU %d: %v", i, err)
			}
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("split %v: forwarded %d bytes, want %d", split, out.Len(), len(want))
		}
	}
}
