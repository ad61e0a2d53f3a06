package domxml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

func drive(c, b, t, u uint) *libvirtxml.DomainAddress {
	return &libvirtxml.DomainAddress{Drive: &libvirtxml.DomainAddressDrive{Controller: &c, Bus: &b, Target: &t, Unit: &u}}
}

func alias(n int) *libvirtxml.DomainAlias { return &libvirtxml.DomainAlias{Name: "ua-" + diskID(n)} }

func fileSrc(n int) *libvirtxml.DomainDiskSource {
	return &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: sdDir + "/" + diskID(n)}}
}

func TestConfigureDisks(t *testing.T) {
	withDisks := func(direct bool, disks ...vmspec.Disk) vmspec.VM {
		return with(func(vm *vmspec.VM) {
			vm.Controllers = []vmspec.Controller{{Index: 0}}
			vm.Disks = disks
			if direct {
				vm.Boot.Kernel = "/k"
			}
		})
	}
	qcow := scsiDisk(1, "sda", addr(0, 0, 300), vmspec.FormatQCOW2)
	qcow.BootOrder, qcow.Discard, qcow.ErrorPolicy, qcow.Cache = 1, true, "enospace", "writeback"
	qcowXML := libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: "writeback", Discard: "unmap", ErrorPolicy: "enospace"},
		Source: fileSrc(1), Target: &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "scsi"},
		Serial: diskID(1), Alias: alias(1), Address: drive(0, 0, 0, 300),
		Boot: &libvirtxml.DomainDeviceBoot{Order: 1},
		// An image is one layer: libvirt must not open it to look for more.
		BackingStore: &libvirtxml.DomainDiskBackingStore{Source: &libvirtxml.DomainDiskSource{}},
	}
	qcowDirect := qcowXML
	qcowDirect.Boot = nil

	lun := vmspec.Disk{
		ID: diskID(2), Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sdb", Address: addr(0, 1, 0),
		ISCSI: &vmspec.ISCSISource{Host: "192.0.2.1", IQN: lunIQN, LUN: 7},
		SGIO:  vmspec.SGIOFiltered, RawIO: true, Reservations: true, Shareable: true,
	}
	lunXML := libvirtxml.DomainDisk{
		Device: "lun", SGIO: "filtered", RawIO: "yes",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none"},
		Source: &libvirtxml.DomainDiskSource{Network: &libvirtxml.DomainDiskSourceNetwork{
			Protocol: "iscsi", Name: lunIQN + "/7", Hosts: []libvirtxml.DomainDiskSourceHost{{Name: "192.0.2.1"}},
		}},
		Target:    &libvirtxml.DomainDiskTarget{Dev: "sdb", Bus: "scsi"},
		Shareable: &libvirtxml.DomainDiskShareable{}, Alias: alias(2), Address: drive(0, 0, 1, 0),
	}

	emptyCD := vmspec.Disk{ID: diskID(3), Bus: vmspec.BusIDE, Device: vmspec.DeviceCDROM, TargetDev: "hdc", ReadOnly: true, BootOrder: 2}
	emptyCDXML := libvirtxml.DomainDisk{
		Device: "cdrom",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none"},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{}},
		Target: &libvirtxml.DomainDiskTarget{Dev: "hdc", Bus: "ide"}, ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		Boot: &libvirtxml.DomainDeviceBoot{Order: 2}, Alias: alias(3),
	}

	devs := func(disks ...libvirtxml.DomainDisk) *libvirtxml.Domain {
		return &libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Disks: disks}}
	}
	runConfigCases(t, configureDisks, []configCase{
		{"no disks", baseVM(), Options{}, devs()},
		{"qcow2 image with boot order, unit 300", withDisks(false, qcow), Options{}, devs(qcowXML)},
		{"direct boot drops boot order", withDisks(true, qcow), Options{}, devs(qcowDirect)},
		{"iscsi pass-through lun, default port, reservations need no element", withDisks(false, lun), Options{}, devs(lunXML)},
		{"empty cdrom has no source", withDisks(false, emptyCD), Options{}, devs(emptyCDXML)},
		{"spec order is kept", withDisks(false, lun, qcow), Options{}, devs(lunXML, qcowXML)},
	})
}

// TestDiskXMLMatchesBuild pins that hot-plug and cold-plug render a disk
// identically (the same code path).
func TestDiskXMLMatchesBuild(t *testing.T) {
	vm := lunVM()
	dom, err := Build(vm, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range vm.Disks {
		s, err := DiskXML(d, testOpts)
		if err != nil {
			t.Fatalf("DiskXML(%s): %v", d.TargetDev, err)
		}
		var got libvirtxml.DomainDisk
		if err := got.Unmarshal(s); err != nil {
			t.Fatalf("DiskXML(%s) does not parse: %v\n%s", d.TargetDev, err, s)
		}
		if diff := cmp.Diff(dom.Devices.Disks[i], got, ignoreXMLNames); diff != "" {
			t.Errorf("DiskXML(%s) differs from Build (-build +hotplug):\n%s", d.TargetDev, diff)
		}
	}
}

func TestControllerXMLMatchesBuild(t *testing.T) {
	vm := ioThreadsVM()
	dom, err := Build(vm, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range vm.Controllers {
		s, err := ControllerXML(c)
		if err != nil {
			t.Fatal(err)
		}
		var got libvirtxml.DomainController
		if err := got.Unmarshal(s); err != nil {
			t.Fatalf("ControllerXML(%d) does not parse: %v\n%s", c.Index, err, s)
		}
		if diff := cmp.Diff(dom.Devices.Controllers[i], got, ignoreXMLNames); diff != "" {
			t.Errorf("ControllerXML(%d) differs from Build (-build +hotplug):\n%s", c.Index, diff)
		}
	}
}

func TestControllerXMLText(t *testing.T) {
	for _, tc := range []struct {
		c    vmspec.Controller
		want string
	}{
		{vmspec.Controller{Index: 0}, `<controller type="scsi" index="0" model="virtio-scsi"></controller>`},
		{vmspec.Controller{Index: 2, Queues: 4, IOThread: 1},
			"<controller type=\"scsi\" index=\"2\" model=\"virtio-scsi\">\n  <driver queues=\"4\" iothread=\"1\"></driver>\n</controller>"},
	} {
		got, err := ControllerXML(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ControllerXML(%+v) (-want +got):\n%s", tc.c, diff)
		}
	}
}

func TestVolumePath(t *testing.T) {
	for _, tc := range []struct {
		dir, vol, want, err string
	}{
		{dir: "/sd/images", vol: "v1", want: "/sd/images/v1"},
		{dir: "/sd/images/", vol: "v1", want: "/sd/images/v1"},
		{dir: "/sd/x/../images", vol: "v.1", want: "/sd/images/v.1"},
		{dir: "/", vol: "v1", want: "/v1"},
		{dir: "sd/images", vol: "v1", err: "not an absolute path"},
		{dir: "", vol: "v1", err: "not an absolute path"},
		{dir: "/sd/images", vol: "../x", err: "not a file directly inside"},
		{dir: "/sd/images", vol: "..", err: "not a file directly inside"},
		{dir: "/sd/images", vol: ".", err: "not a file directly inside"},
		{dir: "/sd/images", vol: "a/b", err: "not a file directly inside"},
		{dir: "/sd/images", vol: "a/../../b", err: "not a file directly inside"},
		{dir: "/sd/images", vol: "", err: "not a file directly inside"},
	} {
		got, err := volumePath("d", vmspec.FileSource{DomainDir: tc.dir, VolumeID: tc.vol})
		if tc.err != "" {
			checkErr(t, tc.dir+" + "+tc.vol, err, tc.err)
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("volumePath(%q, %q) = %q, %v; want %q", tc.dir, tc.vol, got, err, tc.want)
		}
	}
}
