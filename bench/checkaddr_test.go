//go:build bench

package bench

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/testguest"
)

// TestCheckAddresses: the check the boot rows rely on for "the guest sees
// every disk at its address" refuses each way a disk can be misplaced.
func TestCheckAddresses(t *testing.T) {
	type disk struct {
		id     string
		c, tgt uint
		unit   uint
	}
	domain := func(ds ...disk) *libvirtxml.Domain {
		d := &libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{}}
		for _, x := range ds {
			c, tg, u := x.c, x.tgt, x.unit
			d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{
				Alias:   &libvirtxml.DomainAlias{Name: "ua-" + x.id},
				Address: &libvirtxml.DomainAddress{Drive: &libvirtxml.DomainAddressDrive{Controller: &c, Target: &tg, Unit: &u}},
			})
		}
		return d
	}
	seen := func(id string, host, tgt, lun int) testguest.Disk {
		return testguest.Disk{Serial: id, Host: host, Target: tgt, LUN: lun, HCTL: "h:0:t:l"}
	}
	ids := []string{"a", "b", "c", "d"}
	libvirt := domain(disk{"a", 0, 0, 0}, disk{"b", 1, 0, 0}, disk{"c", 0, 0, 1}, disk{"d", 1, 2, 5})
	for _, tt := range []struct {
		name  string
		guest []testguest.Disk
		want  string // "" for no error, else a part of it
	}{
		{"all in place, controllers 0,1 as hosts 2,3",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 3, 0, 0), seen("c", 2, 0, 1), seen("d", 3, 2, 5)}, ""},
		{"hosts in the other order", // the guest numbers hosts as it probes them
			[]testguest.Disk{seen("a", 3, 0, 0), seen("b", 2, 0, 0), seen("c", 3, 0, 1), seen("d", 2, 2, 5)}, ""},
		{"one missing",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 3, 0, 0), seen("c", 2, 0, 1)}, "d: not seen"},
		{"wrong unit",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 3, 0, 0), seen("c", 2, 0, 2), seen("d", 3, 2, 5)}, "c: guest"},
		{"wrong target",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 3, 0, 0), seen("c", 2, 0, 1), seen("d", 3, 1, 5)}, "d: guest"},
		{"one controller split over two hosts",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 3, 0, 0), seen("c", 4, 0, 1), seen("d", 3, 2, 5)}, "c: guest"},
		{"two controllers on one host",
			[]testguest.Disk{seen("a", 2, 0, 0), seen("b", 2, 0, 0), seen("c", 2, 0, 1), seen("d", 2, 2, 5)}, "b: guest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAddresses(libvirt, ids, testguest.Inventory{Disks: tt.guest})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkAddresses: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkAddresses: %v, want an error with %q", err, tt.want)
			}
		})
	}
	if err := checkAddresses(domain(disk{"a", 0, 0, 0}), []string{"a", "z"}, testguest.Inventory{Disks: []testguest.Disk{seen("a", 0, 0, 0)}}); err == nil ||
		!strings.Contains(err.Error(), "z: no drive address") {
		t.Errorf("a disk libvirt does not address: %v", err)
	}
}
