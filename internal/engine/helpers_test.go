package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestMain(m *testing.M) { sqltest.Main(m) }

// env is an engine on a real database with one data center, a cluster of
// the given level, an up host (a recording fake) and a storage domain.
type env struct {
	e       *Engine
	st      store.Store
	host    *fakeHost
	dc      model.DataCenter
	cluster model.Cluster
	sd      model.StorageDomain
	ctx     context.Context
}

func newEnv(t *testing.T, dsn string, level model.Version) *env {
	t.Helper()
	ctx := WithCaller(context.Background(), "admin@internal")
	st, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := newFakeHost()
	v := &env{e: New(Deps{Store: st, Hosts: fakeHosts{h}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), st: st, host: h, ctx: ctx}
	v.e.st.(*cachingStore).verify = true // every row served from memory is checked against the database
	if v.dc, err = v.e.AddDataCenter(ctx, model.DataCenter{Name: "Default"}); err != nil {
		t.Fatal(err)
	}
	if v.cluster, err = v.e.AddCluster(ctx, model.Cluster{Name: "Default", DataCenterID: v.dc.ID, Version: level}); err != nil {
		t.Fatal(err)
	}
	if _, err = v.e.AddHost(ctx, model.Host{Name: "local", Address: "unix:///x", ClusterID: v.cluster.ID, Status: model.HostUp}); err != nil {
		t.Fatal(err)
	}
	if v.sd, err = v.e.AddStorageDomain(ctx, model.StorageDomain{Name: "local", DataCenterID: v.dc.ID, Path: "/var/lib/govirt/sd"}); err != nil {
		t.Fatal(err)
	}
	return v
}

// each runs fn on SQLite and PostgreSQL with a 4.8 cluster.
func each(t *testing.T, fn func(t *testing.T, v *env)) {
	sqltest.ForEach(t, func(t *testing.T, dsn string) { fn(t, newEnv(t, dsn, model.Version48)) })
}

func (v *env) vm(t *testing.T, name, os string, mut ...func(*VMParams)) model.VM {
	t.Helper()
	p := VMParams{Name: &name, ClusterID: &v.cluster.ID, OSType: &os}
	for _, m := range mut {
		m(&p)
	}
	vm, err := v.e.AddVM(v.ctx, p)
	if err != nil {
		t.Fatalf("add vm %s: %v", name, err)
	}
	return vm
}

func (v *env) imageDisk(t *testing.T, alias string) model.Disk {
	t.Helper()
	size := int64(1 << 30)
	d, err := v.e.AddDisk(v.ctx, DiskParams{Alias: &alias, ProvisionedSize: &size, StorageDomainID: &v.sd.ID})
	if err != nil {
		t.Fatalf("add disk %s: %v", alias, err)
	}
	return d
}

func (v *env) lunDisk(t *testing.T, alias string, sgio model.ScsiGenericIO, lun int) model.Disk {
	t.Helper()
	d, err := v.e.AddDisk(v.ctx, DiskParams{Alias: &alias, SGIO: &sgio,
		LUN: &model.ISCSILun{Address: "127.0.0.1", Port: 3260, Target: "iqn.2026-11.dev.govirt:t", LunMapping: lun, LunID: alias}})
	if err != nil {
		t.Fatalf("add lun %s: %v", alias, err)
	}
	return d
}

func (v *env) attach(t *testing.T, vmID, diskID string, iface model.DiskInterface, mut ...func(*AttachParams)) model.DiskAttachment {
	t.Helper()
	p := AttachParams{Interface: &iface}
	for _, m := range mut {
		m(&p)
	}
	a, err := v.e.AttachDisk(v.ctx, vmID, diskID, p)
	if err != nil {
		t.Fatalf("attach %s: %v", diskID, err)
	}
	return a
}

// events is the audit log, newest first, at most limit events.
func (v *env) events(t *testing.T, limit int) []model.AuditEvent {
	t.Helper()
	var out []model.AuditEvent
	notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListEvents(v.ctx, 0, limit)
		return err
	}))
	return out
}

func (v *env) devices(t *testing.T, vmID string) []model.VmDevice {
	t.Helper()
	var out []model.VmDevice
	if err := v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListDevicesOfVM(v.ctx, vmID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (v *env) device(t *testing.T, vmID, id string) model.VmDevice {
	t.Helper()
	for _, d := range v.devices(t, vmID) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("vm %s has no device %s", vmID, id)
	return model.VmDevice{}
}

func controllersOf(devs []model.VmDevice) []model.ControllerSpec {
	var out []model.ControllerSpec
	for _, d := range devs {
		if d.Device == model.DeviceVirtioSCSI {
			out = append(out, *d.Controller)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// wantKey fails unless err is the user-facing error with key.
func wantKey(t *testing.T, err error, key string) {
	t.Helper()
	if got := apperr.KeyOf(err); got != key {
		t.Fatalf("got %v (key %q), want %s", err, got, key)
	}
}

func notErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			t.Fatalf("%s: %v", ae.Key, err)
		}
		t.Fatal(err)
	}
}

func bptr(b bool) *bool { return &b }
func iptr(i int) *int   { return &i }
