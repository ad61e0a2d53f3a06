package engine

import (
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// TestVMCacheSeesOtherWriters: rows changed behind the engine's back (by
// another engine process, here the raw store) are never served from the
// cache, and commands keep the cache in step with their own writes.
func TestVMCacheSeesOtherWriters(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		iface := model.InterfaceVirtIOSCSI
		for i := range 3 {
			d := v.lunDisk(t, "lun"+string(rune('a'+i)), model.SGIODisabled, i)
			_, err := v.e.AttachDisk(v.ctx, vm.ID, d.ID, AttachParams{Interface: &iface})
			notErr(t, err)
		}
		cs := v.e.st.(*cachingStore)
		if cs.cache.get(vm.ID) == nil {
			t.Fatal("no cache entry after three commands on the VM")
		}
		// Another process renames a device.
		devs := v.devices(t, vm.ID)
		var changed model.VmDevice
		for _, d := range devs {
			if d.Type == model.DeviceTypeDisk {
				changed = d
				break
			}
		}
		changed.TargetDev = "sdzz"
		if err := v.st.Tx(v.ctx, func(tx store.Tx) error { return tx.UpdateDevice(v.ctx, changed) }); err != nil {
			t.Fatal(err)
		}
		err := v.e.st.Tx(v.ctx, func(tx store.Tx) error {
			if err := v.e.lockVM(v.ctx, tx, vm.ID, apperr.ActionRun); err != nil {
				return err
			}
			s, err := v.e.loadVM(v.ctx, tx, vm.ID, apperr.ActionRun, apperr.TypeVM)
			if err != nil {
				return err
			}
			if d, _ := s.device(changed.ID); d.TargetDev != "sdzz" {
				t.Errorf("engine sees %q, another writer set sdzz", d.TargetDev)
			}
			return nil
		})
		notErr(t, err)
	})
}
