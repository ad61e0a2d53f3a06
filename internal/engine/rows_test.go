package engine

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"pgregory.net/rapid"
)

func addrPtr(c, t, u uint16) *scsi.DriveAddress {
	return &scsi.DriveAddress{Controller: c, Target: t, Unit: u}
}

func ctrlRow(id string, index int) model.VmDevice {
	return model.VmDevice{ID: id, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI, Plugged: true,
		Controller: &model.ControllerSpec{Index: index}}
}

func diskRow(id, name string, plugged bool, addr *scsi.DriveAddress) model.VmDevice {
	return model.VmDevice{ID: id, Type: model.DeviceTypeDisk, Device: model.DeviceDisk, TargetDev: name, Plugged: plugged, Address: addr}
}

func TestRowSetNextName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		devs   []model.VmDevice
		prefix string
		except string
		want   string
	}{
		{"empty", nil, scsi.PrefixSCSI, "", "sda"},
		{"gap", []model.VmDevice{diskRow("a", "sda", true, nil), diskRow("c", "sdc", true, nil)}, scsi.PrefixSCSI, "", "sdb"},
		{"unplugged names are free", []model.VmDevice{diskRow("a", "sda", false, nil)}, scsi.PrefixSCSI, "", "sda"},
		{"other prefixes do not count", []model.VmDevice{diskRow("a", "vda", true, nil)}, scsi.PrefixSCSI, "", "sda"},
		{"except is free", []model.VmDevice{diskRow("a", "hda", true, nil), diskRow("b", "hdb", true, nil)}, scsi.PrefixIDE, "hda", "hda"},
		{"except of another prefix", []model.VmDevice{diskRow("a", "hda", true, nil)}, scsi.PrefixIDE, "sda", "hdb"},
		{"odd names are kept but take no index", []model.VmDevice{diskRow("a", "cdrom", true, nil)}, scsi.PrefixSCSI, "", "sda"},
		{"past a word of names", names(70), scsi.PrefixSCSI, "", scsi.DeviceName(scsi.PrefixSCSI, 70)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := rowsFromLists(tc.devs, nil, nil)
			if got := rs.nextName(tc.prefix, tc.except); got != tc.want {
				t.Errorf("nextName(%s, %q) = %s, want %s", tc.prefix, tc.except, got, tc.want)
			}
			for _, d := range tc.devs {
				if rs.nameTaken(d.TargetDev) != d.Plugged {
					t.Errorf("nameTaken(%s) = %v, want %v", d.TargetDev, !d.Plugged, d.Plugged)
				}
			}
		})
	}
}

// names is n plugged disks named sda onwards.
func names(n int) []model.VmDevice {
	out := make([]model.VmDevice, n)
	for i := range out {
		out[i] = diskRow(fmt.Sprintf("d%03d", i), scsi.DeviceName(scsi.PrefixSCSI, i), true, nil)
	}
	return out
}

func TestRowSetFigures(t *testing.T) {
	scsiAtt := func(id string, active bool) model.DiskAttachment {
		return model.DiskAttachment{DiskID: id, Interface: model.InterfaceVirtIOSCSI, Active: active}
	}
	devs := []model.VmDevice{ctrlRow("c0", 0), ctrlRow("c1", 1),
		diskRow("a", "sda", true, addrPtr(0, 0, 1)), diskRow("b", "sdb", true, addrPtr(1, 0, 0)),
		diskRow("c", "sdc", true, addrPtr(1, 0, 1)), diskRow("d", "", false, addrPtr(1, 0, 2)),
		{ID: CDROMID, Type: model.DeviceTypeDisk, Device: model.DeviceCDROM, TargetDev: "sdd", Plugged: true, Address: addrPtr(0, 0, 2)}}
	atts := []model.DiskAttachment{scsiAtt("a", true), scsiAtt("b", true), scsiAtt("c", false), scsiAtt("d", false),
		{DiskID: "e", Interface: model.InterfaceVirtIO, Active: true}}
	disks := []model.Disk{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	rs := rowsFromLists(devs, atts, disks)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"controllers", len(rs.controllers()), 2},
		{"on controller 0", rs.disksOnController(0), 1}, // not the CD-ROM
		{"on controller 1", rs.disksOnController(1), 1}, // c is not active, d not plugged
		{"active virtio-scsi", rs.countActive(model.InterfaceVirtIOSCSI), 2},
		{"active virtio", rs.countActive(model.InterfaceVirtIO), 1},
		{"missing", rs.missing(), "e"},
		{"next sd name", rs.nextName(scsi.PrefixSCSI, ""), "sde"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	var order []string
	for d := range rs.devices() {
		order = append(order, d.ID)
	}
	if want := []string{CDROMID, "a", "b", "c", "c0", "c1", "d"}; !slices.Equal(order, want) {
		t.Errorf("devices in order %v, want %v", order, want)
	}
	alloc, err := rs.allocator()
	if err != nil {
		t.Fatal(err)
	}
	// Both controllers hold two plugged devices (0: a and the CD-ROM; 1:
	// b and c, active or not), so the lower one gets the next disk.
	if got, err := alloc.Plug("new", false); err != nil || got != *addrPtr(0, 0, 3) {
		t.Errorf("Plug = %v, %v; want 0:0:3", got, err)
	}
	if got, err := alloc.Plug("next", false); err != nil || got != *addrPtr(1, 0, 3) {
		t.Errorf("Plug = %v, %v; want 1:0:3 (d remembers 1:0:2)", got, err)
	}
	if rs.sums.alloc == nil || len(rs.sums.alloc.Slots()) != 5 {
		t.Error("the rowSet keeps no allocator, or plugging into the one it handed out changed it")
	}
	// Changing a shared copy leaves the original as it was.
	cp := rs.share()
	cp.setDisk(model.Disk{ID: "e"})
	cp.setDevice(diskRow("a", "sdz", false, addrPtr(0, 0, 1)))
	cp.deleteAttachment("b")
	if rs.missing() != "e" || !rs.nameTaken("sda") || rs.countActive(model.InterfaceVirtIOSCSI) != 2 || rs.disksOnController(1) != 1 {
		t.Error("changing a shared copy changed the original")
	}
	if cp.missing() != "" || cp.nameTaken("sda") || cp.countActive(model.InterfaceVirtIOSCSI) != 1 || cp.disksOnController(1) != 0 {
		t.Errorf("the copy's figures did not follow its changes: missing %q, active %d", cp.missing(), cp.countActive(model.InterfaceVirtIOSCSI))
	}
}

// TestRowSetRandomWrites applies random row changes, as commands and the
// row cache make them, to a rowSet and to a plain model of the rows, and
// after each compares the lists and every kept figure (allocator
// included) with a rowSet built afresh from the model's lists. Versions
// shared along the way must keep what they held.
func TestRowSetRandomWrites(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &rowModel{devs: map[string]model.VmDevice{}, atts: map[string]model.DiskAttachment{}, disks: map[string]model.Disk{}}
		rs := rowsFromLists(nil, nil, nil)
		type saved struct {
			rs                rowSet
			devs, atts, disks any
		}
		var versions []saved
		ids := []string{"d1", "d2", "d3", "d4", "d5", "d6", CDROMID}
		id := func(t *rapid.T) string { return rapid.SampledFrom(ids).Draw(t, "id") }
		addr := func(t *rapid.T) *scsi.DriveAddress {
			if rapid.IntRange(0, 3).Draw(t, "noAddr") == 0 {
				return nil
			}
			return addrPtr(uint16(rapid.IntRange(0, 2).Draw(t, "ctrl")), 0, uint16(rapid.IntRange(0, 3).Draw(t, "unit")))
		}
		t.Repeat(map[string]func(*rapid.T){
			"device": func(t *rapid.T) {
				d := diskRow(id(t), rapid.SampledFrom([]string{"", "sda", "sdb", "sdc", "vda", "hda"}).Draw(t, "name"),
					rapid.Bool().Draw(t, "plugged"), addr(t))
				rs.setDevice(d)
				m.devs[d.ID] = cloneDevice(d)
			},
			"controller": func(t *rapid.T) {
				i := rapid.IntRange(0, 2).Draw(t, "index")
				d := ctrlRow(fmt.Sprint("c", i), i)
				rs.setDevice(d)
				m.devs[d.ID] = cloneDevice(d)
			},
			"deleteDevice": func(t *rapid.T) {
				d := rapid.SampledFrom(append(ids, "c0", "c1", "c2")).Draw(t, "device")
				rs.deleteDevice(d)
				delete(m.devs, d)
			},
			"attachment": func(t *rapid.T) {
				a := model.DiskAttachment{DiskID: id(t), Active: rapid.Bool().Draw(t, "active"), Bootable: rapid.IntRange(0, 4).Draw(t, "boot") == 0,
					Interface: rapid.SampledFrom([]model.DiskInterface{model.InterfaceVirtIOSCSI, model.InterfaceVirtIOSCSI, model.InterfaceVirtIO, model.InterfaceIDE}).Draw(t, "iface")}
				rs.setAttachment(a)
				m.atts[a.DiskID] = a
			},
			"deleteAttachment": func(t *rapid.T) {
				d := id(t)
				rs.deleteAttachment(d)
				delete(m.atts, d)
			},
			"disk": func(t *rapid.T) {
				d := model.Disk{ID: id(t), Alias: rapid.StringMatching(`[a-z]{1,3}`).Draw(t, "alias")}
				rs.setDisk(d)
				m.disks[d.ID] = d
			},
			"deleteDisk": func(t *rapid.T) {
				d := id(t)
				rs.deleteDisk(d)
				delete(m.disks, d)
			},
			"plug": func(t *rapid.T) { // as reservePlug does
				d, ok := rs.device(id(t))
				if !ok || d.Plugged {
					return
				}
				alloc, err := rs.allocator()
				if err != nil {
					return
				}
				a, err := alloc.Plug(d.ID, false)
				if err != nil {
					return
				}
				d.Plugged, d.Address, d.TargetDev = true, &a, rs.nextName(scsi.PrefixSCSI, "")
				rs.setDevice(d)
				m.devs[d.ID] = cloneDevice(d)
			},
			"share": func(t *rapid.T) { // a cache entry handed to the next command
				devs, atts, disks := rs.lists()
				versions = append(versions, saved{rs.share(), devs, atts, disks})
				rs = rs.share()
			},
			"": func(t *rapid.T) {
				fresh := rowsFromLists(m.lists())
				want := [3]any{}
				want[0], want[1], want[2] = fresh.lists()
				got := [3]any{}
				got[0], got[1], got[2] = rs.lists()
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("rows differ from the model:\n%+v\n%+v", got, want)
				}
				if err := sameSums(&rs, fresh); err != nil {
					t.Fatal(err)
				}
				if rs.missing() != fresh.missing() {
					t.Fatalf("missing %q, the model's %q", rs.missing(), fresh.missing())
				}
				for i, v := range versions {
					devs, atts, disks := v.rs.lists()
					if !reflect.DeepEqual([3]any{devs, atts, disks}, [3]any{v.devs, v.atts, v.disks}) {
						t.Fatalf("version %d changed after it was shared", i)
					}
				}
			},
		})
	})
}

// rowModel is the plain model of a VM's rows.
type rowModel struct {
	devs  map[string]model.VmDevice
	atts  map[string]model.DiskAttachment
	disks map[string]model.Disk
}

func (m *rowModel) lists() ([]model.VmDevice, []model.DiskAttachment, []model.Disk) {
	var devs []model.VmDevice
	for _, k := range slices.Sorted(maps.Keys(m.devs)) {
		devs = append(devs, m.devs[k])
	}
	var atts []model.DiskAttachment
	for _, k := range slices.Sorted(maps.Keys(m.atts)) {
		atts = append(atts, m.atts[k])
	}
	var disks []model.Disk
	for _, k := range slices.Sorted(maps.Keys(m.disks)) {
		disks = append(disks, m.disks[k])
	}
	return devs, atts, disks
}
