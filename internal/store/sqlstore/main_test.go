package sqlstore_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv(crashChildEnv); dsn != "" {
		os.Exit(crashChild(dsn)) // the crash test's writer, re-executed
	}
	sqltest.Main(m)
}

// forEachStore runs fn on a fresh store of each kind, in parallel.
func forEachStore(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	sqltest.ForEach(t, func(t *testing.T, dsn string) {
		fn(t, openStore(t, dsn))
	})
}

func openStore(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
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
	return db
}

// mustTx runs fn in a transaction and fails the test on error.
func mustTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Tx(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

// wantErr runs fn in a transaction and checks it fails with want.
func wantErr(t *testing.T, s store.Store, want error, what string, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Tx) error { return fn(ctx, tx) })
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// when is a timestamp with microseconds in a zone other than UTC: the store
// keeps the instant at microsecond precision and returns it in UTC.
var when = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("CEST", 2*3600))

// fixture is the topology every test needs: a data center with a cluster,
// a host and a storage domain.
type fixture struct {
	s    store.Store
	dc   model.DataCenter
	cl   model.Cluster
	host model.Host
	sd   model.StorageDomain
}

func newFixture(t *testing.T, s store.Store) *fixture {
	t.Helper()
	f := &fixture{
		s:    s,
		dc:   model.DataCenter{ID: "dc-1", Name: "Default", Description: "the default", Version: model.Version48},
		cl:   model.Cluster{ID: "cl-1", Name: "Default", DataCenterID: "dc-1", Version: model.Version48},
		host: model.Host{ID: "host-1", Name: "host1", Address: "unix:///run/govirt/agent.sock", ClusterID: "cl-1", Status: model.HostUp},
		sd:   model.StorageDomain{ID: "sd-1", Name: "data", DataCenterID: "dc-1", Path: "/srv/govirt/data"},
	}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.InsertDataCenter(ctx, f.dc), tx.InsertCluster(ctx, f.cl),
			tx.InsertHost(ctx, f.host), tx.InsertStorageDomain(ctx, f.sd))
	})
	return f
}

func (f *fixture) newVM(name string) model.VM {
	return model.VM{
		ID: "vm-" + name, Name: name, ClusterID: f.cl.ID, OSType: "other_linux",
		MemoryBytes: 1 << 30, VCPUs: 1, Status: model.VMDown, IOThreads: 1,
		VirtioSCSIMultiQueues: -1, CreatedAt: when,
	}
}

func (f *fixture) newDisk(alias string, shareable bool) model.Disk {
	return model.Disk{
		ID: "disk-" + alias, Alias: alias, StorageType: model.StorageImage, Format: model.FormatCow,
		ProvisionedSize: 1 << 30, StorageDomainID: f.sd.ID, Status: model.DiskOK,
		Shareable: shareable, CreatedAt: when,
	}
}

// addVM inserts a VM named name.
func (f *fixture) addVM(t *testing.T, name string) model.VM {
	t.Helper()
	vm := f.newVM(name)
	mustTx(t, f.s, func(ctx context.Context, tx store.Tx) error { return tx.InsertVM(ctx, vm) })
	return vm
}

// addDisk inserts an image disk.
func (f *fixture) addDisk(t *testing.T, alias string, shareable bool) model.Disk {
	t.Helper()
	d := f.newDisk(alias, shareable)
	mustTx(t, f.s, func(ctx context.Context, tx store.Tx) error { return tx.InsertDisk(ctx, d) })
	return d
}

func attachment(vmID, diskID string) model.DiskAttachment {
	return model.DiskAttachment{VMID: vmID, DiskID: diskID, Interface: model.InterfaceVirtIOSCSI, Active: true}
}

// diskDevice is a plugged disk device at unit u of controller 0.
func diskDevice(vmID, id string, u uint16) model.VmDevice {
	return model.VmDevice{
		ID: id, VMID: vmID, Type: model.DeviceTypeDisk, Device: model.DeviceDisk,
		Address: &scsi.DriveAddress{Unit: u}, Plugged: true, Managed: true,
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, v := range items {
		out[i] = id(v)
	}
	return out
}
