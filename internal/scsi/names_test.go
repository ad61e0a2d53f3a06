package scsi

import (
	"errors"
	"testing"
)

func TestDeviceName(t *testing.T) {
	tests := []struct {
		prefix string
		index  int
		want   string
	}{
		{PrefixSCSI, 0, "sda"},
		{PrefixSCSI, 25, "sdz"},
		{PrefixSCSI, 26, "sdaa"}, // oVirt's engine once said "sdba"
		{PrefixSCSI, 27, "sdab"},
		{PrefixSCSI, 51, "sdaz"},
		{PrefixSCSI, 52, "sdba"},
		{PrefixSCSI, 701, "sdzz"},
		{PrefixSCSI, 702, "sdaaa"},
		{PrefixSCSI, 16382, "sdxfc"},
		{PrefixVirtIO, 0, "vda"},
		{PrefixIDE, 2, "hdc"},
	}
	for _, tt := range tests {
		if got := DeviceName(tt.prefix, tt.index); got != tt.want {
			t.Errorf("DeviceName(%q, %d) = %q, want %q", tt.prefix, tt.index, got, tt.want)
		}
	}
}

func TestDeviceIndexInvertsDeviceName(t *testing.T) {
	for i := 0; i < 20000; i++ {
		name := DeviceName(PrefixSCSI, i)
		got, err := DeviceIndex(PrefixSCSI, name)
		if err != nil || got != i {
			t.Fatalf("DeviceIndex(%q) = %d, %v; want %d", name, got, err, i)
		}
	}
}

func TestDeviceIndexErrors(t *testing.T) {
	for _, name := range []string{"", "sd", "vda", "sdA", "sd1", "sda/", "sdaaaaaaa"} {
		if _, err := DeviceIndex(PrefixSCSI, name); !errors.Is(err, ErrBadDeviceName) {
			t.Errorf("DeviceIndex(%q) error = %v, want ErrBadDeviceName", name, err)
		}
	}
}
