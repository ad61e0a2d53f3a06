package engine

import (
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/vmspec"
)

func TestCDROM(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	d := v.imageDisk(t, "boot")
	v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Bootable = bptr(true) })

	cd, err := v.e.SetCDROM(v.ctx, vm.ID, "install.iso", false)
	notErr(t, err)
	if cd.Address == nil || cd.Media != v.sd.ID+"/install.iso" || !strings.HasPrefix(cd.TargetDev, "sd") {
		t.Fatalf("cdrom row %+v", cd)
	}
	if *cd.Address == *v.device(t, vm.ID, d.ID).Address {
		t.Fatal("cdrom shares the boot disk's address")
	}
	_, err = v.e.SetCDROM(v.ctx, vm.ID, "../etc/passwd", false)
	wantKey(t, err, apperr.BadParameter)

	_, err = v.e.RunVM(v.ctx, vm.ID)
	notErr(t, err)
	var sent *vmspec.Disk
	for _, sd := range v.host.running[vm.ID].Disks {
		if sd.Device == vmspec.DeviceCDROM {
			sd := sd
			sent = &sd
		}
	}
	if sent == nil || sent.File == nil || sent.File.VolumeID != "install.iso" || sent.File.DomainDir != v.sd.Path || !sent.ReadOnly {
		t.Fatalf("cdrom in the spec: %+v", sent)
	}

	// Live change and eject reach the host; a next-run change does not.
	_, err = v.e.SetCDROM(v.ctx, vm.ID, "other.iso", true)
	notErr(t, err)
	_, err = v.e.SetCDROM(v.ctx, vm.ID, "", true)
	notErr(t, err)
	_, err = v.e.SetCDROM(v.ctx, vm.ID, "later.iso", false)
	notErr(t, err)
	calls := strings.Join(v.host.Calls(), "\n")
	if strings.Count(calls, "ChangeMedia "+vm.ID) != 2 || !strings.Contains(calls, "ChangeMedia "+vm.ID+" other.iso") {
		t.Errorf("want a live insert and a live eject; host calls:\n%s", calls)
	}
	if strings.Contains(calls, "later.iso") {
		t.Errorf("a next-run change reached the running guest:\n%s", calls)
	}

	// Without virtio-scsi the drive moves to IDE and keeps its media.
	_, err = v.e.StopVM(v.ctx, vm.ID)
	notErr(t, err)
	_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
	notErr(t, err)
	_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{VirtioSCSIEnabled: bptr(false)})
	notErr(t, err)
	cd, err = v.e.CDROM(v.ctx, vm.ID)
	notErr(t, err)
	if cd.Address != nil || !strings.HasPrefix(cd.TargetDev, "hd") || !strings.HasSuffix(cd.Media, "/later.iso") {
		t.Errorf("cdrom after disabling virtio-scsi: %+v", cd)
	}
}
