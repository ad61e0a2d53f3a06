package pdu

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseText(t *testing.T) {
	got, err := ParseText([]byte("HeaderDigest=CRC32C,None\x00TargetName=iqn.x:y\x00\x00\x00Empty=\x00Last=1"))
	want := []KV{{"HeaderDigest", "CRC32C,None"}, {"TargetName", "iqn.x:y"}, {"Empty", ""}, {"Last", "1"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseText = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"novalue\x00", "=x\x00"} {
		if _, err := ParseText([]byte(bad)); !errors.Is(err, ErrNegotiation) {
			t.Errorf("ParseText(%q) error %v", bad, err)
		}
	}
}

type textStep struct {
	from Side
	text string
	cont bool
}

func TestNegotiation(t *testing.T) {
	defaults := Params{MaxRecvDataSegmentLength: [2]uint32{8192, 8192}, ImmediateData: true, InitialR2T: true,
		FirstBurstLength: 65536, MaxBurstLength: 262144}
	with := func(f func(*Params)) Params { p := defaults; f(&p); return p }
	tests := []struct {
		name  string
		steps []textStep
		want  Params
	}{
		{"nothing negotiated", nil, defaults},
		{"digests offered, target picks CRC32C", []textStep{
			{Initiator, "HeaderDigest=CRC32C,None\x00DataDigest=CRC32C,None\x00MaxRecvDataSegmentLength=262144\x00", false},
			{Target, "HeaderDigest=CRC32C\x00DataDigest=None\x00MaxRecvDataSegmentLength=65536\x00", false},
		}, with(func(p *Params) {
			p.HeaderDigest = true
			p.MaxRecvDataSegmentLength = [2]uint32{262144, 65536}
		})},
		{"target offers, initiator answers", []textStep{
			{Target, "DataDigest=CRC32C,None\x00", false},
			{Initiator, "DataDigest=CRC32C\x00", false},
		}, with(func(p *Params) { p.DataDigest = true })},
		{"text split across PDUs (C bit)", []textStep{
			{Initiator, "HeaderDigest=CR", true},
			{Initiator, "C32C\x00ImmediateData=No\x00", false},
			{Target, "HeaderDigest=CRC32C\x00ImmediateData=No\x00InitialR2T=No\x00FirstBurstLength=8192\x00", false},
		}, with(func(p *Params) {
			p.HeaderDigest, p.ImmediateData, p.InitialR2T, p.FirstBurstLength = true, false, false, 8192
		})},
		{"target rejects the key", []textStep{
			{Initiator, "HeaderDigest=CRC32C\x00", false},
			{Target, "HeaderDigest=Reject\x00", false},
		}, defaults},
	}
	for _, tt := range tests {
		n := NewNegotiation()
		for _, s := range tt.steps {
			if err := n.Add(s.from, []byte(s.text), s.cont); err != nil {
				t.Fatalf("%s: Add: %v", tt.name, err)
			}
		}
		got, err := n.Params()
		if err != nil || got != tt.want {
			t.Errorf("%s: Params = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestNegotiationAmbiguous(t *testing.T) {
	tests := []struct {
		name  string
		steps []textStep
	}{
		{"offer never answered", []textStep{{Initiator, "HeaderDigest=CRC32C\x00", false}}},
		{"answer is a list", []textStep{{Initiator, "HeaderDigest=CRC32C,None\x00", false}, {Target, "HeaderDigest=CRC32C,None\x00", false}}},
		{"unknown digest", []textStep{{Initiator, "DataDigest=MD5\x00", false}, {Target, "DataDigest=MD5\x00", false}}},
		{"bad MaxRecvDataSegmentLength", []textStep{{Target, "MaxRecvDataSegmentLength=12\x00", false}}},
	}
	for _, tt := range tests {
		n := NewNegotiation()
		for _, s := range tt.steps {
			if err := n.Add(s.from, []byte(s.text), s.cont); err != nil {
				t.Fatalf("%s: Add: %v", tt.name, err)
			}
		}
		if _, err := n.Params(); !errors.Is(err, ErrNegotiation) {
			t.Errorf("%s: Params error %v, want ErrNegotiation", tt.name, err)
		}
	}
}

func TestSense(t *testing.T) {
	data := SenseData(FixedSense(SenseIllegalRequest, ASCInvalidOpcode, 0))
	key, asc, ascq, ok := SenseKey(Sense(data))
	if !ok || key != 5 || asc != 0x20 || ascq != 0 || len(data) != 20 {
		t.Errorf("sense round trip: %d %x %x %v (%d bytes)", key, asc, ascq, ok, len(data))
	}
	if _, _, _, ok := SenseKey(Sense([]byte{0, 9, 0x70})); ok {
		t.Error("truncated sense must not parse")
	}
	if key, asc, _, ok := SenseKey([]byte{0x72, 0x06, 0x29, 0x00}); !ok || key != 6 || asc != 0x29 {
		t.Error("descriptor sense")
	}
}

func FuzzParseText(f *testing.F) {
	f.Add([]byte("HeaderDigest=CRC32C,None\x00MaxRecvDataSegmentLength=262144\x00"), true)
	f.Fuzz(func(t *testing.T, b []byte, split bool) {
		kvs, err := ParseText(b)
		if err == nil {
			again, err := ParseText(EncodeText(kvs))
			if err != nil || !reflect.DeepEqual(again, kvs) {
				t.Fatalf("re-parse: %v", err)
			}
		}
		n := NewNegotiation()
		half := len(b) / 2
		if split {
			_ = n.Add(Initiator, b[:half], true)
		}
		_ = n.Add(Initiator, b[half:], false)
		_ = n.Add(Target, b, false)
		_, _ = n.Params()
	})
}
