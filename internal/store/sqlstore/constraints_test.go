package sqlstore_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

func TestDuplicatesConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm := f.addVM(t, "vm1")
		for _, c := range []struct {
			name   string
			insert func(context.Context, store.Tx) error
		}{
			{"data center name", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertDataCenter(ctx, model.DataCenter{ID: "dc-2", Name: f.dc.Name, Version: model.Version48})
			}},
			{"data center id", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertDataCenter(ctx, model.DataCenter{ID: f.dc.ID, Name: "other", Version: model.Version48})
			}},
			{"cluster name", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertCluster(ctx, model.Cluster{ID: "cl-2", Name: f.cl.Name, DataCenterID: f.dc.ID})
			}},
			{"host name", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertHost(ctx, model.Host{ID: "host-2", Name: f.host.Name, ClusterID: f.cl.ID, Status: model.HostUp})
			}},
			{"storage domain name", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertStorageDomain(ctx, model.StorageDomain{ID: "sd-2", Name: f.sd.Name, DataCenterID: f.dc.ID})
			}},
			{"vm name", func(ctx context.Context, tx store.Tx) error {
				other := f.newVM("other")
				other.Name = vm.Name
				return tx.InsertVM(ctx, other)
			}},
			{"vm id", func(ctx context.Context, tx store.Tx) error {
				other := f.newVM("other")
				other.ID = vm.ID
				return tx.InsertVM(ctx, other)
			}},
			{"vm renamed to a taken name", func(ctx context.Context, tx store.Tx) error {
				other := f.newVM("other")
				if err := tx.InsertVM(ctx, other); err != nil {
					return err
				}
				other.Name = vm.Name
				return tx.UpdateVM(ctx, other)
			}},
			{"lun used by another disk", func(ctx context.Context, tx store.Tx) error {
				lun := model.Disk{ID: "lun-a", Alias: "a", StorageType: model.StorageLUN, LUN: &model.ISCSILun{LunID: "36001"}}
				if err := tx.InsertDisk(ctx, lun); err != nil {
					return err
				}
				lun.ID = "lun-b"
				return tx.InsertDisk(ctx, lun)
			}},
		} {
			wantErr(t, s, store.ErrConflict, c.name, c.insert)
		}
		// Disk aliases need not be unique.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			a, b := f.newDisk("same", false), f.newDisk("same", false)
			b.ID = "disk-same-2"
			return errors.Join(tx.InsertDisk(ctx, a), tx.InsertDisk(ctx, b))
		})
	})
}

func TestForeignKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm := f.addVM(t, "vm1")
		disk := f.addDisk(t, "d1", false)
		running := f.newVM("running")
		running.HostID, running.Status = f.host.ID, model.VMUp
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(tx.InsertVM(ctx, running), tx.InsertAttachment(ctx, attachment(vm.ID, disk.ID)))
		})
		for _, c := range []struct {
			name string
			fn   func(context.Context, store.Tx) error
		}{
			{"attachment to a missing vm", func(ctx context.Context, tx store.Tx) error {
				d := f.newDisk("d2", true)
				return errors.Join(tx.InsertDisk(ctx, d), tx.InsertAttachment(ctx, attachment("vm-missing", d.ID)))
			}},
			{"attachment of a missing disk", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAttachment(ctx, attachment(vm.ID, "disk-missing"))
			}},
			{"device of a missing vm", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertDevice(ctx, diskDevice("vm-missing", "d", 0))
			}},
			{"vm in a missing cluster", func(ctx context.Context, tx store.Tx) error {
				v := f.newVM("lost")
				v.ClusterID = "cl-missing"
				return tx.InsertVM(ctx, v)
			}},
			{"vm on a missing host", func(ctx context.Context, tx store.Tx) error {
				v := f.newVM("lost")
				v.HostID = "host-missing"
				return tx.InsertVM(ctx, v)
			}},
			{"disk in a missing storage domain", func(ctx context.Context, tx store.Tx) error {
				d := f.newDisk("lost", false)
				d.StorageDomainID = "sd-missing"
				return tx.InsertDisk(ctx, d)
			}},
			{"delete a storage domain with disks", func(ctx context.Context, tx store.Tx) error {
				return tx.DeleteStorageDomain(ctx, f.sd.ID)
			}},
			{"delete a cluster with vms", func(ctx context.Context, tx store.Tx) error {
				// The host is in the cluster too: move it out first, so
				// only the VMs hold the cluster.
				cl2 := model.Cluster{ID: "cl-2", Name: "c2", DataCenterID: f.dc.ID}
				h := f.host
				h.ClusterID = cl2.ID
				return errors.Join(tx.InsertCluster(ctx, cl2), tx.UpdateHost(ctx, h), tx.DeleteCluster(ctx, f.cl.ID))
			}},
			{"delete a data center with clusters", func(ctx context.Context, tx store.Tx) error {
				return tx.DeleteDataCenter(ctx, f.dc.ID)
			}},
			{"delete a host that runs a vm", func(ctx context.Context, tx store.Tx) error {
				return tx.DeleteHost(ctx, f.host.ID)
			}},
			{"delete an attached disk", func(ctx context.Context, tx store.Tx) error {
				return tx.DeleteDisk(ctx, disk.ID)
			}},
		} {
			wantErr(t, s, store.ErrReferenced, c.name, c.fn)
		}
	})
}

func TestDiskKindCheck(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		for _, c := range []struct {
			name string
			disk model.Disk
		}{
			{"image without a domain", model.Disk{ID: "a", StorageType: model.StorageImage}},
			{"image with a lun", model.Disk{ID: "b", StorageType: model.StorageImage, StorageDomainID: f.sd.ID, LUN: &model.ISCSILun{LunID: "x"}}},
			{"lun in a domain", model.Disk{ID: "c", StorageType: model.StorageLUN, StorageDomainID: f.sd.ID, LUN: &model.ISCSILun{LunID: "y"}}},
			{"lun without a lun", model.Disk{ID: "d", StorageType: model.StorageLUN}},
			{"sgio on an image", model.Disk{ID: "e", StorageType: model.StorageImage, StorageDomainID: f.sd.ID, SGIO: model.SGIOFiltered}},
		} {
			err := s.Tx(t.Context(), func(tx store.Tx) error { return tx.InsertDisk(t.Context(), c.disk) })
			if err == nil {
				t.Errorf("%s: inserted, want the check constraint to refuse it", c.name)
			}
		}
	})
}

func TestDeviceAddresses(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm := f.addVM(t, "vm1")
		other := f.addVM(t, "vm2")
		insert := func(d model.VmDevice) func(context.Context, store.Tx) error {
			return func(ctx context.Context, tx store.Tx) error { return tx.InsertDevice(ctx, d) }
		}
		mustTx(t, s, insert(diskDevice(vm.ID, "a", 1)))

		wantErr(t, s, store.ErrConflict, "second plugged device at one address", insert(diskDevice(vm.ID, "b", 1)))

		unplugged := diskDevice(vm.ID, "b", 1)
		unplugged.Plugged = false
		mustTx(t, s, insert(unplugged))
		mustTx(t, s, insert(diskDevice(other.ID, "a", 1))) // another VM's address space

		// Plugging the unplugged one while a is there: refused.
		wantErr(t, s, store.ErrConflict, "plug onto a taken address", func(ctx context.Context, tx store.Tx) error {
			d := unplugged
			d.Plugged = true
			return tx.UpdateDevice(ctx, d)
		})
		// Unplug a, then plug b at that address: fine, in one transaction.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			a, err := tx.GetDevice(ctx, vm.ID, "a")
			if err != nil {
				return err
			}
			a.Plugged = false
			b := unplugged
			b.Plugged = true
			return errors.Join(tx.UpdateDevice(ctx, a), tx.UpdateDevice(ctx, b))
		})
		// Devices without an address (controllers) never clash.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			c1 := model.VmDevice{ID: "c1", VMID: vm.ID, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI, Plugged: true, Controller: &model.ControllerSpec{}}
			c2 := c1
			c2.ID, c2.Controller = "c2", &model.ControllerSpec{Index: 1}
			return errors.Join(tx.InsertDevice(ctx, c1), tx.InsertDevice(ctx, c2))
		})
		// Target device names are unique among plugged devices too.
		wantErr(t, s, store.ErrConflict, "second plugged device with one target dev", func(ctx context.Context, tx store.Tx) error {
			x, y := diskDevice(vm.ID, "x", 10), diskDevice(vm.ID, "y", 11)
			x.TargetDev, y.TargetDev = "sdk", "sdk"
			return errors.Join(tx.InsertDevice(ctx, x), tx.InsertDevice(ctx, y))
		})
	})
}

func TestAttachmentRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm1, vm2 := f.addVM(t, "vm1"), f.addVM(t, "vm2")
		private := f.addDisk(t, "private", false)
		shared := f.addDisk(t, "shared", true)
		attach := func(vmID, diskID string) func(context.Context, store.Tx) error {
			return func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAttachment(ctx, attachment(vmID, diskID))
			}
		}
		mustTx(t, s, attach(vm1.ID, private.ID))
		wantErr(t, s, store.ErrConflict, "same vm and disk twice", attach(vm1.ID, private.ID))
		wantErr(t, s, store.ErrConflict, "non-shareable disk on a second vm", attach(vm2.ID, private.ID))

		mustTx(t, s, attach(vm1.ID, shared.ID))
		mustTx(t, s, attach(vm2.ID, shared.ID))

		setShareable := func(d model.Disk, v bool) func(context.Context, store.Tx) error {
			return func(ctx context.Context, tx store.Tx) error {
				d.Shareable = v
				return tx.UpdateDisk(ctx, d)
			}
		}
		wantErr(t, s, store.ErrConflict, "shareable=false on a disk two vms use", setShareable(shared, false))

		// With one attachment left, the disk may become non-shareable, and
		// then a second attachment is refused.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteAttachment(ctx, vm2.ID, shared.ID) })
		mustTx(t, s, setShareable(shared, false))
		wantErr(t, s, store.ErrConflict, "second vm after shareable=false", attach(vm2.ID, shared.ID))
		// And back: shareable again, a second VM may attach it.
		mustTx(t, s, setShareable(shared, true))
		mustTx(t, s, attach(vm2.ID, shared.ID))
		mustTx(t, s, setShareable(private, true))
		mustTx(t, s, attach(vm2.ID, private.ID))
	})
}

func TestDeleteVMCascades(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm, keep := f.addVM(t, "gone"), f.addVM(t, "kept")
		disk := f.addDisk(t, "d", true)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(
				tx.InsertAttachment(ctx, attachment(vm.ID, disk.ID)),
				tx.InsertAttachment(ctx, attachment(keep.ID, disk.ID)),
				tx.InsertDevice(ctx, diskDevice(vm.ID, disk.ID, 0)),
				tx.InsertDevice(ctx, diskDevice(keep.ID, disk.ID, 0)))
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteVM(ctx, vm.ID) })
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			atts, err1 := tx.ListAttachmentsOfDisk(ctx, disk.ID)
			devs, err2 := tx.ListDevicesOfVM(ctx, vm.ID)
			kept, err3 := tx.ListDevicesOfVM(ctx, keep.ID)
			_, err4 := tx.GetDisk(ctx, disk.ID) // the disk itself stays
			if len(atts) != 1 || atts[0].VMID != keep.ID || len(devs) != 0 || len(kept) != 1 {
				t.Errorf("after DeleteVM: attachments of the disk %v, devices of the deleted vm %v, of the other %v", atts, devs, kept)
			}
			return errors.Join(err1, err2, err3, err4)
		})
	})
}

func TestVMsWithDevice(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		withSCSI, without, third := f.addVM(t, "vm1"), f.addVM(t, "vm2"), f.addVM(t, "vm3")
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			c := func(vmID, id string) model.VmDevice {
				return model.VmDevice{ID: id, VMID: vmID, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI, Plugged: true, Controller: &model.ControllerSpec{}}
			}
			c2 := c(withSCSI.ID, "c2")
			c2.Controller = &model.ControllerSpec{Index: 1}
			return errors.Join(tx.InsertDevice(ctx, c(withSCSI.ID, "c1")), tx.InsertDevice(ctx, c2),
				tx.InsertDevice(ctx, c(third.ID, "c1")), tx.InsertDevice(ctx, diskDevice(without.ID, "d", 1)))
		})
		for _, tc := range []struct {
			vmID string
			want map[string]bool
		}{
			{"", map[string]bool{withSCSI.ID: true, third.ID: true}},
			{withSCSI.ID, map[string]bool{withSCSI.ID: true}},
			{without.ID, map[string]bool{}},
			{"no-such-vm", map[string]bool{}},
		} {
			mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.VMsWithDevice(ctx, model.DeviceVirtioSCSI, tc.vmID)
				if err != nil {
					return err
				}
				if !maps.Equal(got, tc.want) {
					t.Errorf("VMsWithDevice(virtio-scsi, %q) = %v, want %v", tc.vmID, got, tc.want)
				}
				return nil
			})
		}
	})
}
