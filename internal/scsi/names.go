package scsi

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadDeviceName reports a target device name that is not prefix + letters.
var ErrBadDeviceName = errors.New("invalid device name")

// Device name prefixes per bus, as the Linux kernel and libvirt use them.
const (
	PrefixSCSI   = "sd" // virtio-scsi and SATA
	PrefixVirtIO = "vd" // virtio-blk
	PrefixIDE    = "hd"
)

// DeviceName returns the kernel's name for the disk at index: sda … sdz,
// sdaa … sdzz, sdaaa …; index 26 is "sdaa" (bijective base 26, as in the
// kernel's sd_format_disk_name, not the "sdba" oVirt's engine once produced).
func DeviceName(prefix string, index int) string {
	if index < 0 {
		panic("scsi.DeviceName: negative index")
	}
	var b []byte
	for n := index + 1; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('a'+(n-1)%26))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return prefix + string(b)
}

// DeviceIndex is DeviceName's inverse: it returns the index of name after
// prefix, so the engine can find the lowest free name.
func DeviceIndex(prefix, name string) (int, error) {
	letters, ok := strings.CutPrefix(name, prefix)
	if !ok || letters == "" || len(letters) > 6 {
		return 0, fmt.Errorf("%w: %q", ErrBadDeviceName, name)
	}
	n := 0
	for _, c := range letters {
		if c < 'a' || c > 'z' {
			return 0, fmt.Errorf("%w: %q", ErrBadDeviceName, name)
		}
		n = n*26 + int(c-'a'+1)
	}
	return n - 1, nil
}
