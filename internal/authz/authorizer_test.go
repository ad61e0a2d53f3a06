package authz_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// users is who holds what in the authorization tests.
func users(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	// A custom administrative role with every group but
	// CONFIGURE_SCSI_GENERIC_IO.
	var groups []authz.ActionGroup
	for _, gi := range authz.ActionGroups() {
		if gi.Group != authz.ConfigureSCSIGenericIO {
			groups = append(groups, gi.Group)
		}
	}
	noSGIO, err := authz.NewRole("AlmostSuperUser", "all but sgio", true, groups...)
	if err != nil {
		t.Fatalf("NewRole: %v", err)
	}
	noSGIO.ID = uuid.NewString()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRole(ctx, noSGIO) })
	ids := map[string]string{}
	for name, grants := range map[string][]grant{
		"super":   {{authz.SuperUserID, authz.System()}},
		"dcadmin": {{authz.DataCenterAdminID, authz.DataCenter("dc1")}},
		"cladmin": {{authz.ClusterAdminID, authz.Cluster("cl1")}},
		"sdadmin": {{authz.StorageAdminID, authz.StorageDomain("sd2")}},
		"bob":     {{authz.UserRoleID, authz.VM("vm1")}},
		"gina":    {{authz.UserVMManagerID, authz.VM("vm1")}},
		"erin":    {{authz.DiskOperatorID, authz.Disk("img1")}},
		"dave":    {{authz.VMCreatorID, authz.System()}},
		"carol":   {{noSGIO.ID, authz.System()}},
		"nobody":  nil,
	} {
		ids[name] = addUser(t, s, name, grants...).ID
	}
	return ids
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		user  string
		group authz.ActionGroup
		obj   authz.Object
		want  bool
	}{
		// UserRole on a VM acts on that VM only.
		{"bob", authz.RunVM, authz.VM("vm1"), true},
		{"bob", authz.ShutDownVM, authz.VM("vm1"), true},
		{"bob", authz.RunVM, authz.VM("vm2"), false},
		{"bob", authz.RunVM, authz.VM("vm3"), false},
		{"bob", authz.DeleteVM, authz.VM("vm1"), false},
		{"bob", authz.EditDiskProperties, authz.Disk("img1"), false},
		{"bob", authz.Login, authz.System(), false}, // LOGIN is held on vm1, not System

		// DataCenterAdmin on dc1: sgio on dc1's disks, by storage domain
		// or by the VMs they are attached to, nowhere else.
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("img1"), true},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("img3"), true},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("lun1"), true},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("img2"), false},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("lun3"), false},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("lun2"), false}, // floating LUN
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.System(), false},     // may not add unfiltered LUNs
		{"dcadmin", authz.RunVM, authz.VM("vm2"), true},
		{"dcadmin", authz.RunVM, authz.VM("vm3"), false},
		{"dcadmin", authz.EditHostConfiguration, authz.Host("host1"), true},
		{"dcadmin", authz.EditClusterConfiguration, authz.Cluster("cl1"), true},
		{"dcadmin", authz.EditClusterConfiguration, authz.Cluster("cl2"), false},
		{"dcadmin", authz.EditStorageDomainConfiguration, authz.StorageDomain("sd1"), false}, // "except Storage"
		{"dcadmin", authz.CreateStoragePool, authz.System(), false},

		// ClusterAdmin on cl1 covers its VMs, their disks and its host, not
		// the data center's storage.
		{"cladmin", authz.RunVM, authz.VM("vm2"), true},
		{"cladmin", authz.EditDiskProperties, authz.Disk("lun1"), true},
		{"cladmin", authz.EditDiskProperties, authz.Disk("img3"), false},
		{"cladmin", authz.ConfigureSCSIGenericIO, authz.Disk("lun1"), false},
		{"cladmin", authz.ManipulateHost, authz.Host("host1"), true},

		// StorageAdmin on sd2 covers its disks.
		{"sdadmin", authz.DeleteDisk, authz.Disk("img2"), true},
		{"sdadmin", authz.DeleteDisk, authz.Disk("img1"), false},
		{"sdadmin", authz.EditStorageDomainConfiguration, authz.StorageDomain("sd2"), true},
		{"sdadmin", authz.EditStorageDomainConfiguration, authz.StorageDomain("sd1"), false},

		// UserVmManager on vm1 covers the disks attached to it.
		{"gina", authz.EditDiskProperties, authz.Disk("img1"), true},
		{"gina", authz.EditDiskProperties, authz.Disk("lun1"), true},
		{"gina", authz.EditDiskProperties, authz.Disk("img3"), false},
		{"gina", authz.ConfigureSCSIGenericIO, authz.Disk("lun1"), false},
		{"gina", authz.DeleteVM, authz.VM("vm1"), true},
		{"gina", authz.DeleteVM, authz.VM("vm2"), false},

		// DiskOperator on a disk: that disk only.
		{"erin", authz.EditDiskProperties, authz.Disk("img1"), true},
		{"erin", authz.EditDiskProperties, authz.Disk("img3"), false},
		{"erin", authz.RunVM, authz.VM("vm1"), false},

		// VmCreator on System creates, and does nothing to others' VMs.
		{"dave", authz.CreateVM, authz.System(), true},
		{"dave", authz.CreateVM, authz.Cluster("cl2"), true},
		{"dave", authz.RunVM, authz.VM("vm1"), false},

		{"nobody", authz.RunVM, authz.VM("vm1"), false},
		{"nobody", authz.Login, authz.System(), false},

		// Objects that do not exist (any more) inherit from System only.
		{"super", authz.DeleteVM, authz.VM("gone"), true},
		{"bob", authz.RunVM, authz.VM("gone"), false},
		{"dcadmin", authz.ConfigureSCSIGenericIO, authz.Disk("gone"), false},
	}
	forEachStore(t, func(t *testing.T, s store.Store) {
		topology(t, s)
		ids := users(t, s)
		var az authz.Authorizer
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for _, c := range cases {
				got, err := az.Allowed(ctx, tx, ids[c.user], c.group, c.obj)
				if err != nil {
					return err
				}
				if got != c.want {
					t.Errorf("Allowed(%s, %s, %s) = %v, want %v", c.user, c.group, c.obj, got, c.want)
				}
			}
			// SuperUser on System holds every group everywhere; the custom
			// role without CONFIGURE_SCSI_GENERIC_IO lacks it everywhere
			// and has everything else.
			for _, obj := range everything {
				for _, gi := range authz.ActionGroups() {
					if ok, err := az.Allowed(ctx, tx, ids["super"], gi.Group, obj); err != nil || !ok {
						t.Errorf("SuperUser: Allowed(%s, %s) = %v, %v; want true", gi.Name, obj, ok, err)
					}
					want := gi.Group != authz.ConfigureSCSIGenericIO
					if ok, err := az.Allowed(ctx, tx, ids["carol"], gi.Group, obj); err != nil || ok != want {
						t.Errorf("custom role: Allowed(%s, %s) = %v, %v; want %v", gi.Name, obj, ok, err, want)
					}
				}
			}
			return nil
		})
	})
}

func TestVisible(t *testing.T) {
	objs := func(names ...authz.Object) []authz.Object { return append([]authz.Object{}, names...) }
	cases := []struct {
		user string
		want []authz.Object // of everything
	}{
		{"super", everything},
		// A VM's user sees it, the disks attached to it, and the cluster
		// and data center it is in.
		{"bob", objs(authz.System(), authz.DataCenter("dc1"), authz.Cluster("cl1"), authz.VM("vm1"),
			authz.Disk("img1"), authz.Disk("lun1"))},
		{"dcadmin", objs(authz.System(), authz.DataCenter("dc1"), authz.Cluster("cl1"), authz.Host("host1"),
			authz.StorageDomain("sd1"), authz.VM("vm1"), authz.VM("vm2"),
			authz.Disk("img1"), authz.Disk("img3"), authz.Disk("lun1"))},
		// A disk's operator sees where it is stored, not the VM using it.
		{"erin", objs(authz.System(), authz.DataCenter("dc1"), authz.StorageDomain("sd1"), authz.Disk("img1"))},
		// Creating on System shows nothing below it.
		{"dave", objs(authz.System())},
		{"nobody", objs()},
	}
	forEachStore(t, func(t *testing.T, s store.Store) {
		topology(t, s)
		ids := users(t, s)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for _, c := range cases {
				sub, err := authz.NewSubject(ctx, tx, ids[c.user])
				if err != nil {
					return err
				}
				got, err := authz.Filter(ctx, sub, everything, func(o authz.Object) authz.Object { return o })
				if err != nil {
					return err
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s sees (-want +got):\n%s", c.user, diff)
				}
				// VisibleAll answers the same, one set per object, and a set
				// of two only when both are visible.
				sees := map[authz.Object]bool{}
				for _, o := range c.want {
					sees[o] = true
				}
				var sets [][]authz.Object
				var want []bool
				for _, o := range everything {
					sets, want = append(sets, []authz.Object{o}), append(want, sees[o])
					pair := []authz.Object{o, authz.VM("vm2")}
					sets, want = append(sets, pair), append(want, sees[o] && sees[authz.VM("vm2")])
				}
				all, err := authz.Authorizer{}.VisibleAll(ctx, tx, ids[c.user], sets)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(want, all); diff != "" {
					t.Errorf("VisibleAll for %s (-want +got):\n%s", c.user, diff)
				}
			}
			// Filtering a real collection.
			vms, err := tx.ListVMs(ctx, store.ListOptions{})
			if err != nil {
				return err
			}
			sub, err := authz.NewSubject(ctx, tx, ids["cladmin"])
			if err != nil {
				return err
			}
			mine, err := authz.Filter(ctx, sub, vms, func(vm model.VM) authz.Object { return authz.VM(vm.ID) })
			if diff := cmp.Diff([]string{"vm1", "vm2"}, vmIDs(mine)); diff != "" {
				t.Errorf("cluster admin's VMs (-want +got):\n%s", diff)
			}
			var az authz.Authorizer
			if ok, err := az.Visible(ctx, tx, ids["bob"], authz.VM("vm2")); ok || err != nil {
				t.Errorf("Visible(bob, vm2) = %v, %v; want false", ok, err)
			}
			return err
		})
	})
}

func vmIDs(vms []model.VM) []string {
	out := []string{}
	for _, vm := range vms {
		out = append(out, vm.ID)
	}
	return out
}

func TestPermissionsInTheSameTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		topology(t, s)
		bob := addUser(t, s, "bob")
		var az authz.Authorizer
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			ctx := t.Context()
			err := tx.InsertPermission(ctx, authz.Permission{
				ID: "p", UserID: bob.ID, RoleID: authz.UserRoleID, ObjectType: store.ObjectVM, ObjectID: "vm2",
			})
			if err != nil {
				return err
			}
			ok, err := az.Allowed(ctx, tx, bob.ID, authz.RunVM, authz.VM("vm2"))
			if !ok {
				t.Error("a permission granted earlier in the transaction is not seen")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnknownObjectType(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		u := addUser(t, s, "bob", grant{authz.UserRoleID, authz.VM("vm1")})
		var az authz.Authorizer
		err := s.View(t.Context(), func(tx store.Tx) error {
			_, err := az.Allowed(t.Context(), tx, u.ID, authz.RunVM, authz.Object{Type: "template", ID: "t"})
			return err
		})
		if err == nil {
			t.Error("Allowed on an unknown object type: no error")
		}
	})
}
