package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestRunVMSendsTheFullSpec(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian", func(p *VMParams) { p.IOThreads, p.VirtioSCSIMultiQueues = iptr(2), iptr(-1) })
	boot := v.imageDisk(t, "boot")
	v.attach(t, vm.ID, boot.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Bootable = bptr(true) })
	lun := v.lunDisk(t, "lun", model.SGIOFiltered, 3)
	v.attach(t, vm.ID, lun.ID, model.InterfaceVirtIOSCSI)
	blk := v.imageDisk(t, "blk")
	v.attach(t, vm.ID, blk.ID, model.InterfaceVirtIO)
	off := v.imageDisk(t, "off")
	v.attach(t, vm.ID, off.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Active = bptr(false) })

	got, err := v.e.RunVM(v.ctx, vm.ID)
	notErr(t, err)
	if got.Status != model.VMUp || got.HostID == "" {
		t.Errorf("after run: %s on %q", got.Status, got.HostID)
	}
	spec := v.host.running[vm.ID]
	if spec.Name != "vm1" || len(spec.Controllers) != 2 || len(spec.Disks) != 3 || !spec.GuestAgent {
		t.Fatalf("spec: %+v", spec)
	}
	for _, c := range spec.Controllers {
		if c.IOThread != uint32(c.Index)+1 || c.Queues != 1 {
			t.Errorf("controller %+v: want its own iothread and 1 automatic queue (1 vCPU)", c)
		}
	}
	for _, d := range spec.Disks {
		switch d.ID {
		case boot.ID:
			if *d.Address != (scsi.DriveAddress{}) || d.BootOrder != 1 || d.Serial != boot.ID || d.Alias() != "ua-"+boot.ID || d.File == nil {
				t.Errorf("boot disk spec %+v", d)
			}
		case lun.ID:
			if d.Device != "lun" || d.Serial != "" || d.SGIO != "filtered" || d.ISCSI == nil || d.ISCSI.LUN != 3 {
				t.Errorf("lun spec %+v", d)
			}
		case blk.ID:
			if d.Bus != "virtio" || d.Address != nil || !strings.HasPrefix(d.TargetDev, "vd") {
				t.Errorf("virtio-blk spec %+v", d)
			}
		default:
			t.Errorf("unplugged disk %s sent to the host", d.ID)
		}
	}
	_, err = v.e.RunVM(v.ctx, vm.ID)
	wantKey(t, err, apperr.VMIsRunning)
	_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{IOThreads: iptr(1)})
	wantKey(t, err, apperr.VMIsNotDown)
	_, err = v.e.UpdateAttachment(v.ctx, vm.ID, blk.ID, AttachParams{Interface: ptr(model.InterfaceVirtIOSCSI)})
	wantKey(t, err, apperr.VMIsNotDown)

	_, err = v.e.ShutdownVM(v.ctx, vm.ID, 0)
	notErr(t, err)
	if _, ok := v.host.running[vm.ID]; ok {
		t.Error("vm still runs on the host after shutdown")
	}
	_, err = v.e.StopVM(v.ctx, vm.ID)
	wantKey(t, err, apperr.VMIsNotRunning)
}

func TestHotPlugOnARunningVM(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		d := v.imageDisk(t, "hot")
		v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI) // active by default: a hot-plug
		calls := strings.Join(v.host.Calls(), "\n")
		if !strings.Contains(calls, "HotPlugController "+vm.ID+" 0") || !strings.Contains(calls, "HotPlugDisk "+vm.ID+" "+d.ID) {
			t.Errorf("host calls:\n%s", calls)
		}
		_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
		wantKey(t, err, apperr.HotPlugDiskIsNotUnplugged)
		_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
		notErr(t, err)
		_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
		wantKey(t, err, apperr.HotUnplugDiskIsNotPlugged)

		ide := v.imageDisk(t, "ide")
		_, err = v.e.AttachDisk(v.ctx, vm.ID, ide.ID, AttachParams{Interface: ptr(model.InterfaceIDE)})
		wantKey(t, err, apperr.HotPlugIDENotSupported)

		// A failed plug leaves the disk attached but inactive, its address free.
		v.host.fail["HotPlugDisk"] = errors.New("qemu said no")
		_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
		wantKey(t, err, apperr.HostCallFailed)
		a, _ := v.e.getAttachment(v.ctx, vm.ID, d.ID)
		if a.Active || v.device(t, vm.ID, d.ID).Plugged {
			t.Errorf("after a failed plug: active %v plugged %v", a.Active, v.device(t, vm.ID, d.ID).Plugged)
		}
		delete(v.host.fail, "HotPlugDisk")
		_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
		notErr(t, err)

		// A failed unplug leaves it active and says why.
		v.host.fail["HotUnplugDisk"] = errors.New("device removal timed out")
		_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
		wantKey(t, err, apperr.HostCallFailed)
		if !strings.Contains(err.Error(), "device removal timed out") {
			t.Errorf("error does not say why: %v", err)
		}
		a, _ = v.e.getAttachment(v.ctx, vm.ID, d.ID)
		if !a.Active || !v.device(t, vm.ID, d.ID).Plugged {
			t.Errorf("after a failed unplug: active %v plugged %v", a.Active, v.device(t, vm.ID, d.ID).Plugged)
		}
		delete(v.host.fail, "HotUnplugDisk")

		// Detach from the running VM unplugs first.
		notErr(t, v.e.DetachDisk(v.ctx, vm.ID, d.ID, false))
		if _, err := v.e.getAttachment(v.ctx, vm.ID, d.ID); err == nil {
			t.Error("attachment still there after detach")
		}
	})
}

// TestConcurrentHotPlugs: 64 clients attach and hot-plug into one running VM
// at once; all succeed with 64 distinct addresses, on both databases.
func TestConcurrentHotPlugs(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		_, err := v.e.RunVM(v.ctx, vm.ID)
		notErr(t, err)
		const n = 64
		disks := make([]model.Disk, n)
		for i := range disks {
			disks[i] = v.lunDisk(t, fmt.Sprint("lun", i), model.SGIODisabled, i)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range disks {
			wg.Add(1)
			go func(d model.Disk) {
				defer wg.Done()
				iface := model.InterfaceVirtIOSCSI
				if _, err := v.e.AttachDisk(v.ctx, vm.ID, d.ID, AttachParams{Interface: &iface}); err != nil {
					errs <- err
				}
			}(disks[i])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		seen := map[scsi.DriveAddress]bool{}
		names := map[string]bool{}
		for _, d := range v.devices(t, vm.ID) {
			if d.Type != model.DeviceTypeDisk {
				continue
			}
			if !d.Plugged || d.Address == nil || seen[*d.Address] || names[d.TargetDev] {
				t.Fatalf("device %s: plugged %v address %v name %s (duplicate or missing)", d.ID, d.Plugged, d.Address, d.TargetDev)
			}
			seen[*d.Address], names[d.TargetDev] = true, true
		}
		if len(seen) != n || len(v.host.running[vm.ID].Disks) != n {
			t.Fatalf("%d addresses, host has %d disks; want %d", len(seen), len(v.host.running[vm.ID].Disks), n)
		}
	})
}
