package scsi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// QEMU's bounds for one virtio-scsi controller (hw/scsi/virtio-scsi.c:
// max_target 255, max_lun 16383) and oVirt's per-VM maximum of virtio-scsi disks.
const (
	MaxTarget     = 255
	MaxUnit       = 16383
	MaxDisksPerVM = 16383
	flatSpaceFlag = 0x4000
	maxPeripheral = 255
)

// DriveAddress is a libvirt `<address type='drive'>`: where a disk sits on a
// SCSI controller. It is typed so that addresses are compared and ordered as
// numbers; strings exist only at the XML and database edges.
type DriveAddress struct {
	Controller uint16 `json:"controller"`
	Bus        uint16 `json:"bus"`
	Target     uint16 `json:"target"`
	Unit       uint16 `json:"unit"`
}

// ErrBadAddress reports an address outside QEMU's virtio-scsi bounds or a
// string that is not an address.
var ErrBadAddress = errors.New("invalid drive address")

// Validate checks the address against QEMU's virtio-scsi limits; libvirt would
// otherwise accept it and QEMU fail at start or hot-plug.
func (a DriveAddress) Validate() error {
	if a.Bus != 0 {
		return fmt.Errorf("%w: bus %d (virtio-scsi has only bus 0)", ErrBadAddress, a.Bus)
	}
	if a.Target > MaxTarget {
		return fmt.Errorf("%w: target %d above %d", ErrBadAddress, a.Target, MaxTarget)
	}
	if a.Unit > MaxUnit {
		return fmt.Errorf("%w: unit %d above %d", ErrBadAddress, a.Unit, MaxUnit)
	}
	return nil
}

// String prints the address as oVirt stores it in vm_device.address:
// {bus=0, controller=0, type=drive, target=0, unit=1}.
func (a DriveAddress) String() string {
	return fmt.Sprintf("{bus=%d, controller=%d, type=drive, target=%d, unit=%d}", a.Bus, a.Controller, a.Target, a.Unit)
}

// ParseDriveAddress reads the form String prints (keys in any order,
// spaces optional), so the engine can read addresses oVirt-style.
func ParseDriveAddress(s string) (DriveAddress, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return DriveAddress{}, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	var a DriveAddress
	seen := map[string]bool{}
	for _, kv := range strings.Split(s[1:len(s)-1], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return DriveAddress{}, fmt.Errorf("%w: %q", ErrBadAddress, s)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if seen[k] {
			return DriveAddress{}, fmt.Errorf("%w: duplicate key %q", ErrBadAddress, k)
		}
		seen[k] = true
		if k == "type" {
			if v != "drive" {
				return DriveAddress{}, fmt.Errorf("%w: type %q", ErrBadAddress, v)
			}
			continue
		}
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return DriveAddress{}, fmt.Errorf("%w: %s=%q", ErrBadAddress, k, v)
		}
		switch k {
		case "controller":
			a.Controller = uint16(n)
		case "bus":
			a.Bus = uint16(n)
		case "target":
			a.Target = uint16(n)
		case "unit":
			a.Unit = uint16(n)
		default:
			return DriveAddress{}, fmt.Errorf("%w: unknown key %q", ErrBadAddress, k)
		}
	}
	for _, k := range []string{"controller", "target", "unit"} {
		if !seen[k] {
			return DriveAddress{}, fmt.Errorf("%w: missing %s", ErrBadAddress, k)
		}
	}
	return a, a.Validate()
}

// Less orders addresses controller, bus, target, unit: the order in which the
// guest kernel scans them.
func (a DriveAddress) Less(b DriveAddress) bool {
	if a.Controller != b.Controller {
		return a.Controller < b.Controller
	}
	if a.Bus != b.Bus {
		return a.Bus < b.Bus
	}
	if a.Target != b.Target {
		return a.Target < b.Target
	}
	return a.Unit < b.Unit
}

// GuestLUN is the LUN number a Linux guest shows for a unit: units above 255
// use SAM flat-space addressing, so unit 300 appears as LUN 16684 (0x4000|300).
func GuestLUN(unit uint16) uint32 {
	if unit > maxPeripheral {
		return flatSpaceFlag | uint32(unit)
	}
	return uint32(unit)
}
