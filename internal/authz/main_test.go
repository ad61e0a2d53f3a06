package authz_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestMain(m *testing.M) { sqltest.Main(m) }

// forEachStore runs fn on a fresh, seeded store of each kind, in parallel.
func forEachStore(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	sqltest.ForEach(t, func(t *testing.T, dsn string) {
		log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		db, err := sqlstore.Open(t.Context(), dsn, log)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		mustTx(t, db, func(ctx context.Context, tx store.Tx) error { return authz.Seed(ctx, tx) })
		fn(t, db)
	})
}

func mustTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Tx(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

// addUser stores an internal user with the password "secret-<name>" and
// grants it each role on its object.
func addUser(t *testing.T, s store.Store, name string, grants ...grant) authz.User {
	t.Helper()
	u, err := authz.NewInternalUser(name, name+"@example.org", "secret-"+name)
	if err != nil {
		t.Fatalf("NewInternalUser: %v", err)
	}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			return err
		}
		for _, g := range grants {
			err := tx.InsertPermission(ctx, authz.Permission{
				ID: uuid.NewString(), UserID: u.ID, RoleID: g.roleID, ObjectType: g.obj.Type, ObjectID: g.obj.ID,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return u
}

type grant struct {
	roleID string
	obj    authz.Object
}

// topology is two data centers, each with a cluster, a host, a storage
// domain, VMs and disks:
//
//	dc1: cl1 (host1; vm1, vm2), sd1 (img1 on vm1, img3 floating); lun1 on vm1
//	dc2: cl2 (vm3), sd2 (img2 on vm3); lun3 on vm3
//	lun2: floating LUN
func topology(t *testing.T, s store.Store) {
	t.Helper()
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	vm := func(id, cl string) model.VM {
		return model.VM{ID: id, Name: id, ClusterID: cl, MemoryBytes: 1 << 30, VCPUs: 1, Status: model.VMDown, CreatedAt: when}
	}
	img := func(id, sd string) model.Disk {
		return model.Disk{ID: id, Alias: id, StorageType: model.StorageImage, Format: model.FormatCow,
			ProvisionedSize: 1 << 30, StorageDomainID: sd, Status: model.DiskOK, CreatedAt: when}
	}
	lun := func(id string) model.Disk {
		return model.Disk{ID: id, Alias: id, StorageType: model.StorageLUN, Status: model.DiskOK,
			LUN: &model.ISCSILun{LunID: "36001-" + id}, SGIO: model.SGIOFiltered, CreatedAt: when}
	}
	att := func(vmID, diskID string) model.DiskAttachment {
		return model.DiskAttachment{VMID: vmID, DiskID: diskID, Interface: model.InterfaceVirtIOSCSI}
	}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.InsertDataCenter(ctx, model.DataCenter{ID: "dc1", Name: "dc1", Version: model.Version48}),
			tx.InsertDataCenter(ctx, model.DataCenter{ID: "dc2", Name: "dc2", Version: model.Version48}),
			tx.InsertCluster(ctx, model.Cluster{ID: "cl1", Name: "cl1", DataCenterID: "dc1", Version: model.Version48}),
			tx.InsertCluster(ctx, model.Cluster{ID: "cl2", Name: "cl2", DataCenterID: "dc2", Version: model.Version48}),
			tx.InsertHost(ctx, model.Host{ID: "host1", Name: "host1", Address: "h1:1", ClusterID: "cl1", Status: model.HostUp}),
			tx.InsertStorageDomain(ctx, model.StorageDomain{ID: "sd1", Name: "sd1", DataCenterID: "dc1", Path: "/sd1"}),
			tx.InsertStorageDomain(ctx, model.StorageDomain{ID: "sd2", Name: "sd2", DataCenterID: "dc2", Path: "/sd2"}),
			tx.InsertVM(ctx, vm("vm1", "cl1")), tx.InsertVM(ctx, vm("vm2", "cl1")), tx.InsertVM(ctx, vm("vm3", "cl2")),
			tx.InsertDisk(ctx, img("img1", "sd1")), tx.InsertDisk(ctx, img("img2", "sd2")), tx.InsertDisk(ctx, img("img3", "sd1")),
			tx.InsertDisk(ctx, lun("lun1")), tx.InsertDisk(ctx, lun("lun2")), tx.InsertDisk(ctx, lun("lun3")),
			tx.InsertAttachment(ctx, att("vm1", "img1")), tx.InsertAttachment(ctx, att("vm1", "lun1")),
			tx.InsertAttachment(ctx, att("vm3", "img2")), tx.InsertAttachment(ctx, att("vm3", "lun3")),
		)
	})
}

// everything is every object of the topology, System first.
var everything = []authz.Object{
	authz.System(), authz.DataCenter("dc1"), authz.DataCenter("dc2"), authz.Cluster("cl1"), authz.Cluster("cl2"),
	authz.Host("host1"), authz.StorageDomain("sd1"), authz.StorageDomain("sd2"),
	authz.VM("vm1"), authz.VM("vm2"), authz.VM("vm3"),
	authz.Disk("img1"), authz.Disk("img2"), authz.Disk("img3"), authz.Disk("lun1"), authz.Disk("lun2"), authz.Disk("lun3"),
}
