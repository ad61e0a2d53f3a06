package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestAttachmentRules(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	linux := v.vm(t, "linux", "debian")
	noSCSI := v.vm(t, "noscsi", "debian", func(p *VMParams) { p.VirtioSCSIEnabled = bptr(false) })
	rhel3 := v.vm(t, "old", "rhel_3")
	img := v.imageDisk(t, "img")
	filtered := v.lunDisk(t, "lunf", model.SGIOFiltered, 1)
	unfiltered := v.lunDisk(t, "lunu", model.SGIOUnfiltered, 2)
	for _, tt := range []struct {
		name  string
		vm    model.VM
		disk  model.Disk
		iface model.DiskInterface
		mut   func(*AttachParams)
		key   string
	}{
		{"virtio-scsi disabled", noSCSI, img, model.InterfaceVirtIOSCSI, nil, apperr.VirtIOSCSIDisabled},
		{"os lacks virtio", rhel3, img, model.InterfaceVirtIO, nil, apperr.DiskInterfaceUnsupported},
		{"os lacks virtio-scsi", rhel3, img, model.InterfaceVirtIOSCSI, nil, apperr.DiskInterfaceUnsupported},
		{"read-only ide", linux, img, model.InterfaceIDE, func(p *AttachParams) { p.ReadOnly = bptr(true) }, apperr.InterfaceNoReadOnly},
		{"read-only pass-through", linux, filtered, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.ReadOnly = bptr(true) }, apperr.PassThroughNotForReadOnly},
		{"reservation on image", linux, img, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.UsesSCSIReservation = bptr(true) }, apperr.ReservationNeedsSCSIPassThrough},
		{"reservation filtered", linux, filtered, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.UsesSCSIReservation = bptr(true) }, apperr.SGIOIsFiltered},
		{"sata on i440fx", linux, img, model.InterfaceSATA, nil, apperr.BadParameter},
		{"unknown disk", linux, model.Disk{ID: "nope"}, model.InterfaceVirtIOSCSI, nil, apperr.ObjectNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := AttachParams{Interface: &tt.iface}
			if tt.mut != nil {
				tt.mut(&p)
			}
			_, err := v.e.AttachDisk(v.ctx, tt.vm.ID, tt.disk.ID, p)
			wantKey(t, err, tt.key)
			if _, err := v.e.getAttachment(v.ctx, tt.vm.ID, tt.disk.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused attach left an attachment behind: %v", err)
			}
		})
	}
	// Reservation with unfiltered pass-through is fine.
	v.attach(t, linux.ID, unfiltered.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.UsesSCSIReservation = bptr(true) })
	if d := v.device(t, linux.ID, unfiltered.ID); d.Device != model.DeviceLUN {
		t.Errorf("pass-through LUN device row is %q, want lun", d.Device)
	}
}

func TestSGIOOnImageDisk(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	sgio := model.SGIOUnfiltered
	_, err := v.e.AddDisk(v.ctx, DiskParams{Alias: ptr("x"), ProvisionedSize: ptr(int64(1 << 20)), StorageDomainID: &v.sd.ID, SGIO: &sgio})
	wantKey(t, err, apperr.SGIONotForImageDisk)
	d := v.imageDisk(t, "y")
	_, err = v.e.UpdateDisk(v.ctx, d.ID, DiskParams{SGIO: &sgio})
	wantKey(t, err, apperr.SGIONotForImageDisk)
	_, err = v.e.AddDisk(v.ctx, DiskParams{Alias: ptr("z"), ProvisionedSize: ptr(int64(1 << 20)), StorageDomainID: &v.sd.ID, Shareable: bptr(true)})
	wantKey(t, err, apperr.ShareableNotForCow)
}

func TestDiskLimits(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	for i := 0; i < MaxIDEDisks; i++ {
		v.attach(t, vm.ID, v.imageDisk(t, fmt.Sprint("ide", i)).ID, model.InterfaceIDE)
	}
	_, err := v.e.AttachDisk(v.ctx, vm.ID, v.imageDisk(t, "ide-x").ID, AttachParams{Interface: ptr(model.InterfaceIDE)})
	wantKey(t, err, apperr.ExceededMaxIDESlots)

	// PCI: the VM has a virtio-scsi controller and the guest agent's
	// virtio-serial, so 27 virtio-blk disks fit and the 28th does not.
	for i := 0; i < 27; i++ {
		v.attach(t, vm.ID, v.imageDisk(t, fmt.Sprint("vd", i)).ID, model.InterfaceVirtIO)
	}
	extra := v.imageDisk(t, "vd-x")
	_, err = v.e.AttachDisk(v.ctx, vm.ID, extra.ID, AttachParams{Interface: ptr(model.InterfaceVirtIO)})
	wantKey(t, err, apperr.ExceededMaxPCISlots)
	// Attached but not plugged does not take a slot.
	v.attach(t, vm.ID, extra.ID, model.InterfaceVirtIO, func(p *AttachParams) { p.Active = bptr(false) })
	_, err = v.e.HotPlug(v.ctx, vm.ID, extra.ID)
	wantKey(t, err, apperr.ExceededMaxPCISlots)
	// Enabling one more I/O thread would add a controller: still the same rule at start.
}

func TestAddressesAndNames(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		data := v.imageDisk(t, "data")
		boot := v.imageDisk(t, "boot")
		v.attach(t, vm.ID, data.ID, model.InterfaceVirtIOSCSI)
		v.attach(t, vm.ID, boot.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Bootable = bptr(true) })
		if a := v.device(t, vm.ID, boot.ID).Address; a == nil || *a != (scsi.DriveAddress{}) {
			t.Errorf("boot disk at %v, want 0:0:0:0", a)
		}
		dataDev := v.device(t, vm.ID, data.ID)
		if a := dataDev.Address; a == nil || *a != (scsi.DriveAddress{Unit: 1}) {
			t.Errorf("data disk at %v, want unit 1", a)
		}
		if dataDev.TargetDev != "sda" || v.device(t, vm.ID, boot.ID).TargetDev != "sdb" {
			t.Errorf("names %s %s", dataDev.TargetDev, v.device(t, vm.ID, boot.ID).TargetDev)
		}
		// Unplug and plug: the address and name come back.
		_, err := v.e.HotUnplug(v.ctx, vm.ID, data.ID)
		notErr(t, err)
		_, err = v.e.HotPlug(v.ctx, vm.ID, data.ID)
		notErr(t, err)
		if d := v.device(t, vm.ID, data.ID); *d.Address != *dataDev.Address || d.TargetDev != "sda" {
			t.Errorf("after unplug/plug: %v %s, want %v sda", d.Address, d.TargetDev, dataDev.Address)
		}
		// Unplugged, another disk may take the address; the first then moves.
		_, err = v.e.HotUnplug(v.ctx, vm.ID, data.ID)
		notErr(t, err)
		other := v.imageDisk(t, "other")
		v.attach(t, vm.ID, other.ID, model.InterfaceVirtIOSCSI)
		_, err = v.e.HotPlug(v.ctx, vm.ID, data.ID)
		notErr(t, err)
		seen := map[scsi.DriveAddress]string{}
		for _, d := range v.devices(t, vm.ID) {
			if d.Address != nil && d.Plugged {
				if prev, dup := seen[*d.Address]; dup {
					t.Fatalf("%s and %s share %v", prev, d.ID, d.Address)
				}
				seen[*d.Address] = d.ID
			}
		}
	})
}

func TestIOThreadChangeMovesOnlyDisksOfRemovedControllers(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian", func(p *VMParams) { p.IOThreads = iptr(2) })
		var ids []string
		for i := 0; i < 6; i++ {
			d := v.imageDisk(t, fmt.Sprint("d", i))
			v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI)
			ids = append(ids, d.ID)
		}
		before := map[string]scsi.DriveAddress{}
		perCtrl := map[uint16]int{}
		for _, id := range ids {
			a := *v.device(t, vm.ID, id).Address
			before[id] = a
			perCtrl[a.Controller]++
		}
		if perCtrl[0] != 3 || perCtrl[1] != 3 {
			t.Fatalf("disks per controller %v, want round robin 3/3", perCtrl)
		}
		_, err := v.e.UpdateVM(v.ctx, vm.ID, VMParams{IOThreads: iptr(1)})
		notErr(t, err)
		for _, id := range ids {
			a := *v.device(t, vm.ID, id).Address
			if before[id].Controller == 0 && a != before[id] {
				t.Errorf("disk on the kept controller moved: %v -> %v", before[id], a)
			}
			if a.Controller != 0 {
				t.Errorf("disk still on removed controller: %v", a)
			}
		}
		if n := len(controllersOf(v.devices(t, vm.ID))); n != 1 {
			t.Errorf("%d controllers, want 1", n)
		}
	})
}

func TestAuditEventWording(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	d := v.imageDisk(t, "data1")
	v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI)
	evs := v.events(t, 100)
	want := "Disk data1 was successfully attached to VM vm1 by admin@internal."
	for _, e := range evs {
		if e.Message == want && e.User == "admin@internal" && e.VMID == vm.ID {
			return
		}
	}
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.Message)
	}
	t.Errorf("no event %q in:\n%s", want, strings.Join(msgs, "\n"))
}

// Regressions found by the property tests.
func TestChangingBootOrInterfaceOfAPluggedDiskReplugsIt(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	d := v.imageDisk(t, "d")
	v.attach(t, vm.ID, d.ID, model.InterfaceVirtIO)
	_, err := v.e.UpdateAttachment(v.ctx, vm.ID, d.ID, AttachParams{Interface: ptr(model.InterfaceVirtIOSCSI), Bootable: bptr(true)})
	notErr(t, err)
	if dev := v.device(t, vm.ID, d.ID); !dev.Plugged || dev.Address == nil || *dev.Address != (scsi.DriveAddress{}) || dev.TargetDev != "sda" {
		t.Errorf("after moving to virtio-scsi as boot disk: %+v", dev)
	}
}

func TestMoreIOThreadsMustFitThePCIBus(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	for i := 0; i < 27; i++ { // with the controller and virtio-serial: 29 slots used
		v.attach(t, vm.ID, v.imageDisk(t, fmt.Sprint("vd", i)).ID, model.InterfaceVirtIO)
	}
	_, err := v.e.UpdateVM(v.ctx, vm.ID, VMParams{IOThreads: iptr(4)})
	wantKey(t, err, apperr.ExceededMaxPCISlots)
	if n := len(controllersOf(v.devices(t, vm.ID))); n != 1 {
		t.Errorf("%d controllers after a refused update", n)
	}
}
