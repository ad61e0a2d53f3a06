package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
)

// crud is one entity's methods, for roundTrip.
type crud[T any] struct {
	insert func(store.Tx, context.Context, T) error
	update func(store.Tx, context.Context, T) error
	get    func(context.Context, store.Tx, T) (T, error) // the row with v's key
	delete func(context.Context, store.Tx, T) error      // the row with v's key
	list   func(context.Context, store.Tx) ([]T, error)
}

// roundTrip inserts v and reads it back, updates it to changed (same key)
// and reads that back, checks the list, deletes it, and checks that get,
// update and delete then report store.ErrNotFound.
func roundTrip[T any](t *testing.T, s store.Store, v, changed T, c crud[T]) {
	t.Helper()
	check := func(want T) {
		t.Helper()
		var got T
		var list []T
		err := s.View(t.Context(), func(tx store.Tx) (err error) {
			if got, err = c.get(t.Context(), tx, want); err != nil {
				return err
			}
			list, err = c.list(t.Context(), tx)
			return err
		})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("get after write (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]T{want}, list); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
	}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return c.insert(tx, ctx, v) })
	check(v)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return c.update(tx, ctx, changed) })
	check(changed)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return c.delete(ctx, tx, v) })
	wantErr(t, s, store.ErrNotFound, "get deleted", func(ctx context.Context, tx store.Tx) error {
		_, err := c.get(ctx, tx, v)
		return err
	})
	wantErr(t, s, store.ErrNotFound, "update deleted", func(ctx context.Context, tx store.Tx) error {
		return c.update(tx, ctx, v)
	})
	wantErr(t, s, store.ErrNotFound, "delete deleted", func(ctx context.Context, tx store.Tx) error {
		return c.delete(ctx, tx, v)
	})
}

func TestRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		// The fixture's topology is in the way of lists: a second data
		// center etc. would be listed too, so each case lists by name.
		byName := func(n string) store.ListOptions { return store.ListOptions{Name: n} }

		t.Run("data center", func(t *testing.T) {
			v := model.DataCenter{ID: "dc-x", Name: "dcx", Description: "d", Version: model.Version33}
			w := model.DataCenter{ID: "dc-x", Name: "dcx", Description: "changed", Version: model.Version48}
			roundTrip(t, s, v, w, crud[model.DataCenter]{
				insert: store.Tx.InsertDataCenter, update: store.Tx.UpdateDataCenter,
				get: func(ctx context.Context, tx store.Tx, v model.DataCenter) (model.DataCenter, error) {
					return tx.GetDataCenter(ctx, v.ID)
				},
				delete: func(ctx context.Context, tx store.Tx, v model.DataCenter) error {
					return tx.DeleteDataCenter(ctx, v.ID)
				},
				list: func(ctx context.Context, tx store.Tx) ([]model.DataCenter, error) {
					return tx.ListDataCenters(ctx, byName("dcx"))
				},
			})
		})
		t.Run("cluster", func(t *testing.T) {
			v := model.Cluster{ID: "cl-x", Name: "clx", Description: "d", DataCenterID: f.dc.ID, Version: model.Version33}
			w := model.Cluster{ID: "cl-x", Name: "clx2", Description: "e", DataCenterID: f.dc.ID, Version: model.Version48}
			roundTrip(t, s, v, w, crud[model.Cluster]{
				insert: store.Tx.InsertCluster, update: store.Tx.UpdateCluster,
				get: func(ctx context.Context, tx store.Tx, v model.Cluster) (model.Cluster, error) {
					return tx.GetCluster(ctx, v.ID)
				},
				delete: func(ctx context.Context, tx store.Tx, v model.Cluster) error { return tx.DeleteCluster(ctx, v.ID) },
				list: func(ctx context.Context, tx store.Tx) ([]model.Cluster, error) {
					return tx.ListClusters(ctx, byName("clx*"))
				},
			})
		})
		t.Run("host", func(t *testing.T) {
			v := model.Host{ID: "host-x", Name: "hostx", Address: "h:54321", ClusterID: f.cl.ID, Status: model.HostInstalling}
			w := model.Host{ID: "host-x", Name: "hostx", Address: "h2:54321", ClusterID: f.cl.ID, Status: model.HostMaintenance}
			roundTrip(t, s, v, w, crud[model.Host]{
				insert: store.Tx.InsertHost, update: store.Tx.UpdateHost,
				get:    func(ctx context.Context, tx store.Tx, v model.Host) (model.Host, error) { return tx.GetHost(ctx, v.ID) },
				delete: func(ctx context.Context, tx store.Tx, v model.Host) error { return tx.DeleteHost(ctx, v.ID) },
				list: func(ctx context.Context, tx store.Tx) ([]model.Host, error) {
					return tx.ListHosts(ctx, byName("hostx"))
				},
			})
		})
		t.Run("storage domain", func(t *testing.T) {
			v := model.StorageDomain{ID: "sd-x", Name: "sdx", Description: "d", DataCenterID: f.dc.ID, Path: "/a"}
			w := model.StorageDomain{ID: "sd-x", Name: "sdx", Description: "e", DataCenterID: f.dc.ID, Path: "/b"}
			roundTrip(t, s, v, w, crud[model.StorageDomain]{
				insert: store.Tx.InsertStorageDomain, update: store.Tx.UpdateStorageDomain,
				get: func(ctx context.Context, tx store.Tx, v model.StorageDomain) (model.StorageDomain, error) {
					return tx.GetStorageDomain(ctx, v.ID)
				},
				delete: func(ctx context.Context, tx store.Tx, v model.StorageDomain) error {
					return tx.DeleteStorageDomain(ctx, v.ID)
				},
				list: func(ctx context.Context, tx store.Tx) ([]model.StorageDomain, error) {
					return tx.ListStorageDomains(ctx, byName("sdx"))
				},
			})
		})
		t.Run("vm", func(t *testing.T) {
			v := model.VM{
				ID: "vm-x", Name: "vmx", Description: "d", ClusterID: f.cl.ID, TemplateID: "tpl-blank",
				OSType: "rhel_9x64", MemoryBytes: 4 << 30, VCPUs: 4, Status: model.VMUp, HostID: f.host.ID,
				IOThreads: 2, VirtioSCSIMultiQueues: 8, Kernel: "/boot/vmlinuz", Initrd: "/boot/initrd",
				Cmdline: "console=ttyS0", CreatedAt: when,
			}
			w := v
			w.Status, w.HostID, w.VirtioSCSIMultiQueues, w.Description = model.VMDown, "", -1, "stopped"
			roundTrip(t, s, v, w, crud[model.VM]{
				insert: store.Tx.InsertVM, update: store.Tx.UpdateVM,
				get:    func(ctx context.Context, tx store.Tx, v model.VM) (model.VM, error) { return tx.GetVM(ctx, v.ID) },
				delete: func(ctx context.Context, tx store.Tx, v model.VM) error { return tx.DeleteVM(ctx, v.ID) },
				list:   func(ctx context.Context, tx store.Tx) ([]model.VM, error) { return tx.ListVMs(ctx, byName("VMX")) },
			})
		})
		diskCRUD := crud[model.Disk]{
			insert: store.Tx.InsertDisk, update: store.Tx.UpdateDisk,
			get:    func(ctx context.Context, tx store.Tx, v model.Disk) (model.Disk, error) { return tx.GetDisk(ctx, v.ID) },
			delete: func(ctx context.Context, tx store.Tx, v model.Disk) error { return tx.DeleteDisk(ctx, v.ID) },
			list: func(ctx context.Context, tx store.Tx) ([]model.Disk, error) {
				return tx.ListDisks(ctx, store.ListOptions{})
			},
		}
		t.Run("image disk", func(t *testing.T) {
			v := model.Disk{
				ID: "disk-x", Alias: "diskx", Description: "d", StorageType: model.StorageImage,
				Format: model.FormatRaw, ProvisionedSize: 10 << 30, StorageDomainID: f.sd.ID,
				Status: model.DiskLocked, Shareable: true, PropagateErrors: true, CreatedAt: when,
			}
			w := v
			w.Status, w.Alias, w.ProvisionedSize, w.Shareable = model.DiskOK, "renamed", 20<<30, false
			roundTrip(t, s, v, w, diskCRUD)
		})
		t.Run("lun disk", func(t *testing.T) {
			v := model.Disk{
				ID: "disk-lun", Alias: "lun0", StorageType: model.StorageLUN, Status: model.DiskOK,
				LUN: &model.ISCSILun{
					Address: "127.0.0.1", Port: 3260, Target: "iqn.2024-01.org.govirt:t1", LunMapping: 1,
					LunID: "360000000000000000e00000000010001", Serial: "beaf11", Vendor: "IET",
					Product: "VIRTUAL-DISK", Size: 1 << 30,
				},
				SGIO: model.SGIOFiltered, CreatedAt: when,
			}
			w := v
			lun := *v.LUN
			lun.LunMapping, lun.Size = 2, 2<<30
			w.LUN, w.SGIO = &lun, model.SGIODisabled
			roundTrip(t, s, v, w, diskCRUD)
		})

		vm := f.addVM(t, "owner")
		disk := f.addDisk(t, "owned", false)
		t.Run("attachment", func(t *testing.T) {
			v := model.DiskAttachment{
				VMID: vm.ID, DiskID: disk.ID, Interface: model.InterfaceVirtIOSCSI, Bootable: true,
				PassDiscard: true, ReadOnly: true, UsesSCSIReservation: true, Active: true, LogicalName: "/dev/sda",
			}
			w := model.DiskAttachment{VMID: vm.ID, DiskID: disk.ID, Interface: model.InterfaceVirtIO}
			roundTrip(t, s, v, w, crud[model.DiskAttachment]{
				insert: store.Tx.InsertAttachment, update: store.Tx.UpdateAttachment,
				get: func(ctx context.Context, tx store.Tx, v model.DiskAttachment) (model.DiskAttachment, error) {
					return tx.GetAttachment(ctx, v.VMID, v.DiskID)
				},
				delete: func(ctx context.Context, tx store.Tx, v model.DiskAttachment) error {
					return tx.DeleteAttachment(ctx, v.VMID, v.DiskID)
				},
				list: func(ctx context.Context, tx store.Tx) ([]model.DiskAttachment, error) {
					byVM, err1 := tx.ListAttachmentsOfVM(ctx, vm.ID)
					byDisk, err2 := tx.ListAttachmentsOfDisk(ctx, disk.ID)
					if diff := cmp.Diff(byVM, byDisk); diff != "" {
						t.Errorf("attachments of the VM and of the disk differ:\n%s", diff)
					}
					disks, err3 := tx.ListDisksOfVM(ctx, vm.ID)
					if len(disks) != len(byVM) || (len(disks) == 1 && disks[0].ID != disk.ID) {
						t.Errorf("ListDisksOfVM = %+v, want the disks of %+v", disks, byVM)
					}
					return byVM, errors.Join(err1, err2, err3)
				},
			})
		})
		t.Run("device", func(t *testing.T) {
			v := model.VmDevice{
				ID: "ctl-0", VMID: vm.ID, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI,
				Alias: "ua-ctl-0", Plugged: true, Managed: true,
				Controller: &model.ControllerSpec{Index: 0, Queues: 4, IOThread: 1},
			}
			w := model.VmDevice{
				ID: "ctl-0", VMID: vm.ID, Type: model.DeviceTypeDisk, Device: model.DeviceLUN,
				Address:   &scsi.DriveAddress{Controller: 3, Bus: 0, Target: 255, Unit: 16383},
				TargetDev: "sdaa", Alias: "ua-x", BootOrder: 2,
			}
			roundTrip(t, s, v, w, crud[model.VmDevice]{
				insert: store.Tx.InsertDevice, update: store.Tx.UpdateDevice,
				get: func(ctx context.Context, tx store.Tx, v model.VmDevice) (model.VmDevice, error) {
					return tx.GetDevice(ctx, v.VMID, v.ID)
				},
				delete: func(ctx context.Context, tx store.Tx, v model.VmDevice) error {
					return tx.DeleteDevice(ctx, v.VMID, v.ID)
				},
				list: func(ctx context.Context, tx store.Tx) ([]model.VmDevice, error) {
					return tx.ListDevicesOfVM(ctx, vm.ID)
				},
			})
		})
	})
}

func TestGetMissing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		for _, c := range []struct {
			name string
			get  func(context.Context, store.Tx) error
		}{
			{"data center", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetDataCenter(ctx, "x"); return err }},
			{"cluster", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetCluster(ctx, "x"); return err }},
			{"host", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetHost(ctx, "x"); return err }},
			{"storage domain", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetStorageDomain(ctx, "x"); return err }},
			{"vm", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetVM(ctx, "x"); return err }},
			{"disk", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetDisk(ctx, "x"); return err }},
			{"attachment", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetAttachment(ctx, "x", "y"); return err }},
			{"device", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetDevice(ctx, "x", "y"); return err }},
			{"config", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetConfig(ctx, "x", "general"); return err }},
			{"lock vm", func(ctx context.Context, tx store.Tx) error { return tx.LockVM(ctx, "x") }},
		} {
			wantErr(t, s, store.ErrNotFound, c.name, c.get)
			// A miss is an answer, not a failure: the transaction goes on.
			mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
				_ = c.get(ctx, tx)
				_, err := tx.ListVMs(ctx, store.ListOptions{})
				return err
			})
		}
	})
}

func TestEmptyListsAreNotNil(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			vms, err := tx.ListVMs(ctx, store.ListOptions{})
			if vms == nil {
				t.Error("ListVMs on an empty store returned nil, want an empty slice")
			}
			disks, err2 := tx.ListDisksOfVM(ctx, "no-such-vm")
			if disks == nil {
				t.Error("ListDisksOfVM of no VM returned nil, want an empty slice")
			}
			return errors.Join(err, err2)
		})
	})
}
