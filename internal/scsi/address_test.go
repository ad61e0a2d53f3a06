package scsi

import (
	"errors"
	"testing"
)

func TestParseDriveAddress(t *testing.T) {
	tests := []struct {
		in   string
		want DriveAddress
	}{
		{"{bus=0, controller=0, type=drive, target=0, unit=1}", DriveAddress{Unit: 1}},
		{"{controller=2,bus=0,target=255,unit=16383,type=drive}", DriveAddress{Controller: 2, Target: 255, Unit: 16383}},
		{" { unit=300 , target=7, controller=1 } ", DriveAddress{Controller: 1, Target: 7, Unit: 300}},
	}
	for _, tt := range tests {
		got, err := ParseDriveAddress(tt.in)
		if err != nil {
			t.Errorf("ParseDriveAddress(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDriveAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseDriveAddressErrors(t *testing.T) {
	for _, in := range []string{
		"", "{}", "bus=0", "{controller=0, target=0}", "{controller=0, target=0, unit=x}",
		"{controller=0, target=256, unit=0}", "{controller=0, target=0, unit=16384}",
		"{controller=0, bus=1, target=0, unit=0}", "{controller=0, target=0, unit=0, type=pci}",
		"{controller=0, target=0, unit=0, slot=3}", "{controller=0, controller=1, target=0, unit=0}",
		"{controller=-1, target=0, unit=0}", "{controller=70000, target=0, unit=0}",
	} {
		if _, err := ParseDriveAddress(in); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseDriveAddress(%q) error = %v, want ErrBadAddress", in, err)
		}
	}
}

func TestDriveAddressRoundTrip(t *testing.T) {
	for _, a := range []DriveAddress{{}, {Controller: 3, Target: 255, Unit: 16383}, {Target: 1, Unit: 256}} {
		got, err := ParseDriveAddress(a.String())
		if err != nil || got != a {
			t.Errorf("round trip of %+v: got %+v, %v", a, got, err)
		}
	}
}

func TestLess(t *testing.T) {
	order := []DriveAddress{
		{Controller: 0, Target: 0, Unit: 0},
		{Controller: 0, Target: 0, Unit: 1},
		{Controller: 0, Target: 1, Unit: 0},
		{Controller: 1, Target: 0, Unit: 0},
	}
	for i := range order {
		for j := range order {
			if got, want := order[i].Less(order[j]), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", order[i], order[j], got, want)
			}
		}
	}
}

func TestGuestLUN(t *testing.T) {
	for _, tt := range []struct {
		unit uint16
		want uint32
	}{{0, 0}, {255, 255}, {256, 0x4000 | 256}, {300, 16684}, {16383, 0x4000 | 16383}} {
		if got := GuestLUN(tt.unit); got != tt.want {
			t.Errorf("GuestLUN(%d) = %d, want %d", tt.unit, got, tt.want)
		}
	}
}
