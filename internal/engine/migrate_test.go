package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestMigrateRules(t *testing.T) {
	up := func(id, cluster string) model.Host {
		return model.Host{ID: id, Name: id, ClusterID: cluster, Status: model.HostUp}
	}
	a, b, c, other := up("a", "c1"), up("b", "c1"), up("c", "c1"), up("x", "c2")
	down := model.Host{ID: "d", Name: "d", ClusterID: "c1", Status: model.HostNonResponsive}
	vm := model.VM{ID: "vm", ClusterID: "c1", Status: model.VMUp, HostID: "a"}
	cl := model.Cluster{ID: "c1", DataCenterID: "dc1"}
	base := func(mut func(*migrateInput)) migrateInput {
		in := migrateInput{vm: vm, cluster: cl, up: []model.Host{a, b, c}, load: map[string]int{"a": 3, "b": 2, "c": 1},
			domains: []model.StorageDomain{{Name: "sd", DataCenterID: "dc1"}}}
		if mut != nil {
			mut(&in)
		}
		return in
	}
	for _, tc := range []struct {
		name string
		in   migrateInput
		want string // destination id, or the fault's key
	}{
		{"scheduler picks the least loaded other host", base(nil), "c"},
		{"scheduler never picks the source", base(func(in *migrateInput) { in.load = map[string]int{"a": 0, "b": 5, "c": 6} }), "b"},
		{"named destination", base(func(in *migrateInput) { in.dest = &b }), "b"},
		{"vm down", base(func(in *migrateInput) { in.vm.Status, in.vm.HostID = model.VMDown, "" }), apperr.VMIsNotRunning},
		{"vm already migrating", base(func(in *migrateInput) { in.vm.Status = model.VMMigrating }), apperr.VMStatusIllegal},
		{"vm unknown", base(func(in *migrateInput) { in.vm.Status = model.VMUnknown }), apperr.VMStatusIllegal},
		{"vm powering up", base(func(in *migrateInput) { in.vm.Status = model.VMWaitForLaunch }), apperr.VMStatusIllegal},
		{"scsi reservation", base(func(in *migrateInput) { in.reservation = "lun1" }), apperr.VMUsesSCSIReservation},
		{"reservation before destination faults", base(func(in *migrateInput) { in.reservation, in.dest = "lun1", &a }), apperr.VMUsesSCSIReservation},
		{"pending hot-plug", base(func(in *migrateInput) { in.pending = "d1" }), apperr.DiskIsLocked},
		{"to the same host", base(func(in *migrateInput) { in.dest = &a }), apperr.MigrationToSameHost},
		{"to another cluster", base(func(in *migrateInput) { in.dest = &other }), apperr.MigrateBetweenClusters},
		{"to a host not up", base(func(in *migrateInput) { in.dest = &down }), apperr.HostStatusIllegal},
		{"no other up host", base(func(in *migrateInput) { in.up = []model.Host{a} }), apperr.MigrationNoDestination},
		{"only hosts of other clusters", base(func(in *migrateInput) { in.up = []model.Host{a, other} }), apperr.MigrationNoDestination},
		{"storage of another data center", base(func(in *migrateInput) {
			in.domains = append(in.domains, model.StorageDomain{Name: "far", DataCenterID: "dc2"})
		}), apperr.MigrationStorageNotShared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := migrateRules(tc.in)
			got := h.ID
			if err != nil {
				got = apperr.KeyOf(err)
				if got == "" {
					t.Fatalf("not a user-facing error: %v", err)
				}
			}
			if got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestSettleOutcome(t *testing.T) {
	for _, tc := range []struct {
		onSrc, onDst bool
		want         migrationOutcome
	}{
		{false, true, migrationCompleted},
		{true, false, migrationFailed},
		{false, false, migrationVMDown},
		{true, true, migrationWait},
	} {
		if got := settleOutcome(tc.onSrc, tc.onDst); got != tc.want {
			t.Errorf("on source %v, on destination %v: got %d, want %d", tc.onSrc, tc.onDst, got, tc.want)
		}
	}
}

// hostMap serves a fake per host id.
type hostMap map[string]*fakeHost

func (m hostMap) Host(_ context.Context, id string) (Host, error) {
	if h, ok := m[id]; ok {
		return h, nil
	}
	return nil, errors.New("no such host " + id)
}

// migrationEnv is an env with a second up host, each host its own fake,
// and a running VM with an image disk and a filtered LUN on the first.
type migrationEnv struct {
	*env
	src, dst   model.Host
	srcH, dstH *fakeHost
	vm         model.VM
	lun        model.Disk
}

func newMigrationEnv(t *testing.T, dsn string) *migrationEnv {
	v := &migrationEnv{env: newEnv(t, dsn, model.Version48)}
	var err error
	if v.dst, err = v.e.AddHost(v.ctx, model.Host{Name: "remote", Address: "127.0.0.1:1", ClusterID: v.cluster.ID, Status: model.HostUp}); err != nil {
		t.Fatal(err)
	}
	notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
		hs, err := tx.ListHosts(v.ctx, store.ListOptions{Name: "local"})
		if err == nil && len(hs) == 1 {
			v.src = hs[0]
		}
		return err
	}))
	v.srcH, v.dstH = v.host, newFakeHost()
	v.e.hosts = hostMap{v.src.ID: v.srcH, v.dst.ID: v.dstH}
	v.vm = v.env.vm(t, "mig", "debian")
	boot := v.imageDisk(t, "boot")
	v.attach(t, v.vm.ID, boot.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.Bootable = bptr(true) })
	v.lun = v.lunDisk(t, "lun", model.SGIOFiltered, 1)
	v.attach(t, v.vm.ID, v.lun.ID, model.InterfaceVirtIOSCSI)
	_, err = v.e.RunVMOn(v.ctx, v.vm.ID, []string{v.src.ID})
	notErr(t, err)
	return v
}

func (v *migrationEnv) get(t *testing.T) model.VM {
	t.Helper()
	var vm model.VM
	notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		vm, err = tx.GetVM(v.ctx, v.vm.ID)
		return err
	}))
	return vm
}

// codes are the VM's migration events, newest first.
func (v *migrationEnv) codes(t *testing.T) string {
	t.Helper()
	var codes []string
	for _, ev := range v.events(t, 1000) {
		if ev.VMID == v.vm.ID && (strings.Contains(ev.Code, "MIGRATION") || ev.Code == "VM_DOWN") {
			codes = append(codes, ev.Code)
		}
	}
	return strings.Join(codes, " ")
}

func TestMigrateVM(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, dsn string) {
		v := newMigrationEnv(t, dsn)
		got, err := v.e.MigrateVM(v.ctx, v.vm.ID, "")
		notErr(t, err)
		if got.Status != model.VMUp || got.HostID != v.dst.ID || got.MigratingTo != "" || got.MigrationRun != "" {
			t.Fatalf("after migration: %+v", got)
		}
		if row := v.get(t); row.HostID != v.dst.ID || row.Status != model.VMUp {
			t.Fatalf("stored: %+v", row)
		}
		spec, ok := v.dstH.running[v.vm.ID]
		if !ok || len(spec.Disks) != 2 {
			t.Fatalf("destination runs %+v", v.dstH.running)
		}
		for _, d := range spec.Disks {
			if d.ID == v.lun.ID && (d.SCSIPolicy == nil || d.SCSIPolicy.Name != "filtered") {
				t.Errorf("the LUN reaches the destination without its policy: %+v", d)
			}
		}
		if _, still := v.srcH.running[v.vm.ID]; still {
			t.Error("the source still runs the VM")
		}
		if c := strings.Join(v.dstH.Calls(), "|"); !strings.Contains(c, "PrepareMigration "+v.vm.ID) || !strings.Contains(c, "FinishIncoming "+v.vm.ID+" true") {
			t.Errorf("destination calls: %s", c)
		}
		if c := strings.Join(v.srcH.Calls(), "|"); !strings.Contains(c, "MigrateVM "+v.vm.ID+" qemu+tls://dest/system") {
			t.Errorf("source calls: %s", c)
		}
		if c := v.codes(t); c != "VM_MIGRATION_DONE VM_MIGRATION_START" {
			t.Errorf("events %q", c)
		}

		// A list the source took before the migration ended does not move
		// the VM back; the destination's list keeps it there.
		notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{v.vm.ID: true}, nil))
		notErr(t, v.e.ReportRunning(v.ctx, v.dst.ID, map[string]bool{v.vm.ID: true}, nil))
		notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{}, nil))
		if row := v.get(t); row.HostID != v.dst.ID || row.Status != model.VMUp {
			t.Fatalf("after stale reports: %+v", row)
		}

		// And back, naming the host.
		got, err = v.e.MigrateVM(v.ctx, v.vm.ID, v.src.ID)
		notErr(t, err)
		if got.HostID != v.src.ID {
			t.Fatalf("back: runs on %s", got.HostID)
		}
	})
}

func TestMigrateVMHostFailureKeepsTheVMOnItsSource(t *testing.T) {
	v := newMigrationEnv(t, sqltest.SQLite(t))
	v.srcH.fail["MigrateVM"] = errors.New("unable to connect to server")
	_, err := v.e.MigrateVM(v.ctx, v.vm.ID, v.dst.ID)
	wantKey(t, err, apperr.HostCallFailed)
	if row := v.get(t); row.HostID != v.src.ID || row.Status != model.VMUp || row.MigratingTo != "" {
		t.Fatalf("after a failed migration: %+v", row)
	}
	if c := strings.Join(v.dstH.Calls(), "|"); !strings.Contains(c, "FinishIncoming "+v.vm.ID+" false") {
		t.Errorf("the destination did not drop what it prepared: %s", c)
	}
	if c := v.codes(t); c != "VM_MIGRATION_FAILED VM_MIGRATION_START" {
		t.Errorf("events %q", c)
	}

	// A destination that cannot see the volumes: the storage fault.
	delete(v.srcH.fail, "MigrateVM")
	v.dstH.fail["PrepareMigration"] = agent.ErrStorageNotShared
	_, err = v.e.MigrateVM(v.ctx, v.vm.ID, v.dst.ID)
	wantKey(t, err, apperr.MigrationStorageNotShared)
	if row := v.get(t); row.HostID != v.src.ID || row.Status != model.VMUp {
		t.Fatalf("after a refused prepare: %+v", row)
	}
}

func TestMigrateVMRefusals(t *testing.T) {
	v := newMigrationEnv(t, sqltest.SQLite(t))

	// A LUN using SCSI reservation (with a policy that admits it) pins
	// the VM to its host.
	lun := v.lunDisk(t, "pr", model.SGIOUnfiltered, 2)
	v.attach(t, v.vm.ID, lun.ID, model.InterfaceVirtIOSCSI, func(p *AttachParams) { p.UsesSCSIReservation = bptr(true) })
	before := len(v.srcH.Calls()) + len(v.dstH.Calls())
	_, err := v.e.MigrateVM(v.ctx, v.vm.ID, "")
	wantKey(t, err, apperr.VMUsesSCSIReservation)
	_, err = v.e.MigrateVM(v.ctx, v.vm.ID, "no-such-host")
	wantKey(t, err, apperr.ObjectNotFound)
	if row := v.get(t); row.Status != model.VMUp || row.HostID != v.src.ID {
		t.Fatalf("a refused migration changed the VM: %+v", row)
	}
	if n := len(v.srcH.Calls()) + len(v.dstH.Calls()); n != before {
		t.Fatalf("a refused migration called hosts: %v %v", v.srcH.Calls(), v.dstH.Calls())
	}
	_, err = v.e.UpdateAttachment(v.ctx, v.vm.ID, lun.ID, AttachParams{Active: bptr(false)})
	notErr(t, err)

	// While the VM migrates, nothing may change it on a host.
	row := v.get(t)
	row.Status, row.MigratingTo, row.MigrationRun = model.VMMigrating, v.dst.ID, v.e.runID
	notErr(t, v.st.Tx(v.ctx, func(tx store.Tx) error { return tx.UpdateVM(v.ctx, row) }))
	_, err = v.e.UpdateAttachment(v.ctx, v.vm.ID, lun.ID, AttachParams{Active: bptr(true)})
	wantKey(t, err, apperr.VMStatusIllegal)
	_, err = v.e.StopVM(v.ctx, v.vm.ID)
	wantKey(t, err, apperr.VMStatusIllegal)
	_, err = v.e.ShutdownVM(v.ctx, v.vm.ID, 0)
	wantKey(t, err, apperr.VMStatusIllegal)
	_, err = v.e.SetCDROM(v.ctx, v.vm.ID, "", true)
	wantKey(t, err, apperr.VMStatusIllegal)
	pol := "unfiltered"
	_, err = v.e.UpdateDisk(v.ctx, v.lun.ID, DiskParams{SCSIPolicy: &pol})
	wantKey(t, err, apperr.VMStatusIllegal)
	_, err = v.e.MigrateVM(v.ctx, v.vm.ID, "")
	wantKey(t, err, apperr.VMStatusIllegal)
	wantKey(t, v.e.RemoveHost(v.ctx, v.dst.ID), apperr.HostHasRunningVMs)
	// Its hosts' reports wait for the migration.
	notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{}, nil))
	notErr(t, v.e.ReportRunning(v.ctx, v.dst.ID, map[string]bool{v.vm.ID: true}, nil))
	notErr(t, v.e.HostNotResponding(v.ctx, v.src.ID))
	if got := v.get(t); got.Status != model.VMMigrating || got.HostID != v.src.ID {
		t.Fatalf("reports moved a VM in mid-migration: %+v", got)
	}
}

// An engine that crashed mid-migration leaves the VM migrating; the hosts'
// reports decide where it runs.
func TestInterruptedMigrationSettledByReports(t *testing.T) {
	for _, tc := range []struct {
		name         string
		onSrc, onDst bool
		wantHost     func(v *migrationEnv) string
		wantStatus   model.VMStatus
	}{
		{"completed", false, true, func(v *migrationEnv) string { return v.dst.ID }, model.VMUp},
		{"failed", true, false, func(v *migrationEnv) string { return v.src.ID }, model.VMUp},
		{"gone", false, false, func(*migrationEnv) string { return "" }, model.VMDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newMigrationEnv(t, sqltest.SQLite(t))
			row := v.get(t)
			row.Status, row.MigratingTo, row.MigrationRun = model.VMMigrating, v.dst.ID, "a-crashed-engine"
			notErr(t, v.st.Tx(v.ctx, func(tx store.Tx) error { return tx.UpdateVM(v.ctx, row) }))
			// One host's report alone decides nothing.
			notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{v.vm.ID: tc.onSrc}, nil))
			if got := v.get(t); got.Status != model.VMMigrating {
				t.Fatalf("one report settled it: %+v", got)
			}
			notErr(t, v.e.ReportRunning(v.ctx, v.dst.ID, map[string]bool{v.vm.ID: tc.onDst}, nil))
			got := v.get(t)
			if got.Status != tc.wantStatus || got.HostID != tc.wantHost(v) || got.MigratingTo != "" || got.MigrationRun != "" {
				t.Fatalf("settled as %+v", got)
			}
			want := fmt.Sprintf("FinishIncoming %s %v", v.vm.ID, tc.name == "completed")
			if c := strings.Join(v.dstH.Calls(), "|"); !strings.Contains(c, want) {
				t.Errorf("destination calls %s, want %s", c, want)
			}
		})
	}
	t.Run("both hosts run it: wait", func(t *testing.T) {
		v := newMigrationEnv(t, sqltest.SQLite(t))
		row := v.get(t)
		row.Status, row.MigratingTo, row.MigrationRun = model.VMMigrating, v.dst.ID, "a-crashed-engine"
		notErr(t, v.st.Tx(v.ctx, func(tx store.Tx) error { return tx.UpdateVM(v.ctx, row) }))
		notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{v.vm.ID: true}, nil))
		notErr(t, v.e.ReportRunning(v.ctx, v.dst.ID, map[string]bool{v.vm.ID: true}, nil))
		if got := v.get(t); got.Status != model.VMMigrating {
			t.Fatalf("settled while both hosts run it: %+v", got)
		}
		notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{}, nil))
		if got := v.get(t); got.Status != model.VMUp || got.HostID != v.dst.ID {
			t.Fatalf("after the source let go: %+v", got)
		}
	})
}

// A source that does not answer the migration leaves it in doubt: the VM
// stays migrating until both hosts' reports say where it runs.
func TestMigrationInDoubtSettledByReports(t *testing.T) {
	v := newMigrationEnv(t, sqltest.SQLite(t))
	v.srcH.fail["MigrateVM"] = fmt.Errorf("agentrpc MigrateVM: %w", agent.ErrHostUnreachable)
	_, err := v.e.MigrateVM(v.ctx, v.vm.ID, v.dst.ID)
	wantKey(t, err, apperr.HostCallFailed)
	row := v.get(t)
	if row.Status != model.VMMigrating || row.MigrationRun != "" || row.MigratingTo != v.dst.ID {
		t.Fatalf("in doubt: %+v", row)
	}
	if c := strings.Join(v.dstH.Calls(), "|"); strings.Contains(c, "FinishIncoming") {
		t.Errorf("the destination was finished while the outcome is unknown: %s", c)
	}
	notErr(t, v.e.ReportRunning(v.ctx, v.dst.ID, map[string]bool{v.vm.ID: true}, nil))
	notErr(t, v.e.ReportRunning(v.ctx, v.src.ID, map[string]bool{}, nil))
	if got := v.get(t); got.Status != model.VMUp || got.HostID != v.dst.ID {
		t.Fatalf("settled as %+v", got)
	}
	if c := v.codes(t); !strings.HasPrefix(c, "VM_MIGRATION_DONE VM_MIGRATION_IN_DOUBT VM_MIGRATION_START") {
		t.Errorf("events %q", c)
	}
}
