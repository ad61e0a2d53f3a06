package scsipolicy

import (
	"errors"
	"strings"
	"testing"
)

// cdb builds a 16-byte CDB with an operation code and a service action in
// byte 1 (or bytes 8-9 for 0x7f).
func cdb(code byte, sa uint16) []byte {
	b := make([]byte, 16)
	b[0] = code
	if code == 0x7f {
		b[7] = 0x18
		b[8], b[9] = byte(sa>>8), byte(sa)
	} else {
		b[1] = byte(sa & 0x1f)
	}
	return b
}

func mustCompile(t *testing.T, s Spec) *Policy {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", s, err)
	}
	return p
}

func TestDecide(t *testing.T) {
	reservations := mustCompile(t, Presets()[0])
	trim := mustCompile(t, Presets()[1])
	registerOnly := mustCompile(t, Spec{Name: "register-only", Base: BaseFiltered, Allow: []string{"0x5f/0x00", "0x5e"}})
	noClear := mustCompile(t, Spec{Name: "no-clear", Base: BaseUnfiltered, Deny: []string{"persistent reserve out/clear", "0xc0", "format unit"}})
	readOnly := mustCompile(t, Spec{Name: "read-only", Base: BaseNone, Allow: []string{"inquiry", "read(10)", "read-16", "0x9e/0x10", "test unit ready"}})
	tests := []struct {
		name   string
		policy *Policy
		cdb    []byte
		want   bool
	}{
		{"filtered read(10)", Filtered(), cdb(0x28, 0), true},
		{"filtered write(16)", Filtered(), cdb(0x8a, 0), true},
		{"filtered inquiry", Filtered(), cdb(0x12, 0), true},
		{"filtered read capacity(16)", Filtered(), cdb(0x9e, 0x10), true},
		{"filtered report luns", Filtered(), cdb(0xa0, 0), true},
		{"filtered synchronize cache(16)", Filtered(), cdb(0x91, 0), true},
		{"filtered PR OUT register", Filtered(), cdb(0x5f, 0), false},
		{"filtered PR IN read keys", Filtered(), cdb(0x5e, 0), false},
		{"filtered write buffer", Filtered(), cdb(0x3b, 0), false},
		{"filtered format unit", Filtered(), cdb(0x04, 0), false},
		{"filtered vendor 0xc0", Filtered(), cdb(0xc0, 0), false},
		{"filtered vendor 0xff", Filtered(), cdb(0xff, 0), false},
		{"filtered unmap (MMC READ SUB-CHANNEL in Linux)", Filtered(), cdb(0x42, 0), false},
		{"filtered ATA pass-through(12) (MMC BLANK in Linux)", Filtered(), cdb(0xa1, 0), false},
		{"filtered set target port groups (MMC REPORT KEY in Linux)", Filtered(), cdb(0xa4, 0x0a), false},
		{"filtered write same(16)", Filtered(), cdb(0x93, 0), false},
		{"filtered write same(32)", Filtered(), cdb(0x7f, 0x0d), false},
		{"filtered write long(2) 0xea", Filtered(), cdb(0xea, 0), false},
		{"filtered sanitize", Filtered(), cdb(0x48, 1), false},
		{"filtered empty cdb", Filtered(), nil, false},
		{"unfiltered PR OUT", Unfiltered(), cdb(0x5f, 1), true},
		{"unfiltered vendor", Unfiltered(), cdb(0xc5, 0), true},
		{"unfiltered empty cdb", Unfiltered(), nil, true},
		{"reservations PR OUT reserve", reservations, cdb(0x5f, 1), true},
		{"reservations PR IN full status", reservations, cdb(0x5e, 3), true},
		{"reservations read", reservations, cdb(0x28, 0), true},
		{"reservations write buffer", reservations, cdb(0x3b, 0), false},
		{"trim unmap", trim, cdb(0x42, 0), true},
		{"trim write same(32)", trim, cdb(0x7f, 0x0d), true},
		{"trim other variable-length", trim, cdb(0x7f, 0x09), false},
		{"trim PR OUT", trim, cdb(0x5f, 0), false},
		{"register-only register", registerOnly, cdb(0x5f, 0), true},
		{"register-only reserve", registerOnly, cdb(0x5f, 1), false},
		{"register-only read keys", registerOnly, cdb(0x5e, 0), true},
		{"no-clear clear", noClear, cdb(0x5f, 3), false},
		{"no-clear register", noClear, cdb(0x5f, 0), true},
		{"no-clear vendor", noClear, cdb(0xc0, 0), false},
		{"no-clear format unit", noClear, cdb(0x04, 0), false},
		{"no-clear write buffer", noClear, cdb(0x3b, 0), true},
		{"no-clear empty cdb (has deny rules)", noClear, nil, false},
		{"read-only read(16)", readOnly, cdb(0x88, 0), true},
		{"read-only read capacity(16)", readOnly, cdb(0x9e, 0x10), true},
		{"read-only get lba status", readOnly, cdb(0x9e, 0x12), false},
		{"read-only write(10)", readOnly, cdb(0x2a, 0), false},
		{"short variable-length cdb", trim, []byte{0x7f, 0, 0, 0, 0, 0, 0, 0x18}, false},
	}
	for _, tt := range tests {
		if got := tt.policy.Decide(tt.cdb); got.Allow != tt.want {
			t.Errorf("%s: Decide(% x) = %+v, want allow=%v", tt.name, tt.cdb, got, tt.want)
		}
	}
}

func TestDenyWinsOverAllow(t *testing.T) {
	p := mustCompile(t, Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x5f/0x00", "0x5e"}, Deny: []string{"0x5f"}})
	if p.Decide(cdb(0x5f, 0)).Allow {
		t.Error("deny of the whole operation code must beat an allowed service action")
	}
	p = mustCompile(t, Spec{Name: "y", Base: BaseFiltered, Allow: []string{"0x5f"}, Deny: []string{"0x5f/0x03"}})
	if p.Decide(cdb(0x5f, 3)).Allow || !p.Decide(cdb(0x5f, 1)).Allow {
		t.Error("deny of one service action must leave the others of an allowed code")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "", Base: BaseFiltered}, "name"},
		{Spec{Name: "Upper", Base: BaseFiltered}, "name"},
		{Spec{Name: "filtered", Base: BaseFiltered}, "reserved"},
		{Spec{Name: "disabled", Base: BaseFiltered}, "reserved"},
		{Spec{Name: "x", Base: "some"}, "base"},
		{Spec{Name: "x", Base: BaseUnfiltered, Allow: []string{"0x5f"}}, "no effect"},
		{Spec{Name: "x", Base: BaseNone, Deny: []string{"0x5f"}}, "no effect"},
		{Spec{Name: "x", Base: BaseNone}, "allows no command"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x100"}}, "allow rule 1"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"frobnicate"}}, "known command name"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x28/0x01"}}, "has no service action"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x5f/0x20"}}, "service action"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x5f", "persistent-reserve-out"}}, "repeats"},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x5f"}, Deny: []string{"0x5f"}}, "both allowed and denied"},
		{Spec{Name: "x", Base: BaseFiltered, Deny: []string{" "}}, "deny rule 1"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.spec)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want ErrInvalid containing %q", tt.spec, err, tt.want)
		}
	}
}

func TestParseOp(t *testing.T) {
	tests := []struct {
		in   string
		want Op
	}{
		{"0x5f", Op{Code: 0x5f}},
		{"0X5F/0x01", Op{Code: 0x5f, HasSA: true, ServiceAction: 1}},
		{"95", Op{Code: 95}},
		{"0x7f/0x000d", Op{Code: 0x7f, HasSA: true, ServiceAction: 0x0d}},
		{"Persistent_Reserve_Out", Op{Code: 0x5f}},
		{"persistent-reserve-out/register", Op{Code: 0x5f, HasSA: true}},
		{"write same(32)", Op{Code: 0x7f, HasSA: true, ServiceAction: 0x0d}},
		{"READ CAPACITY(16)", Op{Code: 0x9e, HasSA: true, ServiceAction: 0x10}},
	}
	for _, tt := range tests {
		got, err := ParseOp(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseOp(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if again, err := ParseOp(got.String()); err != nil || again != got {
			t.Errorf("ParseOp(%q.String()=%q) = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestAdmitsReservations(t *testing.T) {
	tests := []struct {
		spec Spec
		want bool
	}{
		{Presets()[0], true},
		{Presets()[1], false},
		{Spec{Name: "x", Base: BaseFiltered, Allow: []string{"0x5f/0x00", "0x5e"}}, false},
		{Spec{Name: "x", Base: BaseUnfiltered, Deny: []string{"0x5f/0x07"}}, false},
		{Spec{Name: "x", Base: BaseUnfiltered, Deny: []string{"write buffer"}}, true},
	}
	for _, tt := range tests {
		if got := mustCompile(t, tt.spec).AdmitsReservations(); got != tt.want {
			t.Errorf("%+v: AdmitsReservations = %v, want %v", tt.spec, got, tt.want)
		}
	}
	if Filtered().AdmitsReservations() || !Unfiltered().AdmitsReservations() {
		t.Error("filtered must not admit reservations, unfiltered must")
	}
}

func TestOpName(t *testing.T) {
	for op, want := range map[Op]string{
		{Code: 0x5f, HasSA: true, ServiceAction: 0}:    "PERSISTENT RESERVE OUT/REGISTER",
		{Code: 0x9e, HasSA: true, ServiceAction: 0x1f}: "SERVICE ACTION IN(16)/0x1f",
		{Code: 0x28}: "READ(10)",
		{Code: 0xc0}: "0xc0",
	} {
		if got := op.Name(); got != want {
			t.Errorf("%v.Name() = %q, want %q", op, got, want)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p := Filtered()
	c := cdb(0x28, 0)
	for b.Loop() {
		if !p.Decide(c).Allow {
			b.Fatal("READ(10) denied")
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tt := range []struct {
		spec    Spec
		want    string
		wantErr bool
	}{
		{Spec{Name: "filtered"}, "filtered", false},
		{Spec{Name: "unfiltered", Base: BaseUnfiltered}, "unfiltered", false},
		{Presets()[0], "reservations", false},
		{Spec{Name: "filtered", Allow: []string{"0x5f"}}, "", true},
		{Spec{Name: "unfiltered", Base: BaseFiltered}, "", true},
		{Spec{Name: "x"}, "", true},
	} {
		p, err := Resolve(tt.spec)
		if (err != nil) != tt.wantErr || (err == nil && p.Name() != tt.want) {
			t.Errorf("Resolve(%+v) = %v, %v", tt.spec, p, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Resolve(%+v) error %v is not ErrInvalid", tt.spec, err)
		}
	}
	if !Filtered().Decide([]byte{0x28}).Allow {
		t.Error("resolved filtered must allow READ(10)")
	}
}

// TestTableAgreesWithDecide: an enforcer that looks a command up in
// Table (the kernel guard) decides as Decide does, for every operation
// code and the service actions rules name, under presets and custom
// policies with service-action rules.
func TestTableAgreesWithDecide(t *testing.T) {
	specs := append(Presets(),
		Spec{Name: "pr-register", Base: BaseFiltered, Allow: []string{"0x5f/0x00", "0x5e"}},
		Spec{Name: "no-pr-clear", Base: BaseUnfiltered, Deny: []string{"0x5f/0x03", "0x7f/0x000d", "0x3b"}},
		Spec{Name: "only-reads", Base: BaseNone, Allow: []string{"0x28", "0x88", "0x9e/0x10"}},
	)
	lookup := func(tb Table, cdb []byte) bool {
		code := cdb[0]
		op := Op{Code: code}
		switch SAField(code) {
		case SAFieldByte1:
			op.HasSA, op.ServiceAction = true, uint16(cdb[1]&0x1f)
		case SAFieldBytes89:
			op.HasSA, op.ServiceAction = true, uint16(cdb[8])<<8|uint16(cdb[9])
		}
		if v, ok := tb.SA[op]; ok && op.HasSA {
			return v
		}
		return tb.Ops[code]
	}
	for _, spec := range specs {
		p, err := Resolve(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		tb := p.Table()
		for code := range 256 {
			for _, sa := range []uint16{0, 1, 3, 0x0d, 0x10, 0x1f} {
				cdb := make([]byte, 16)
				cdb[0] = byte(code)
				cdb[1] = byte(sa) | 0xe0 // the bits above the service action are not part of it
				cdb[8], cdb[9] = byte(sa>>8), byte(sa)
				if got, want := lookup(tb, cdb), p.Decide(cdb).Allow; got != want {
					t.Errorf("%s: % x: table says %v, Decide %v", spec.Name, cdb[:10], got, want)
				}
			}
		}
	}
}
