package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestRollback(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		boom := errors.New("boom")
		writeAll := func(ctx context.Context, tx store.Tx) error {
			vm, d := f.newVM("doomed"), f.newDisk("doomed", false)
			return errors.Join(tx.InsertVM(ctx, vm), tx.InsertDisk(ctx, d),
				tx.InsertAttachment(ctx, attachment(vm.ID, d.ID)), tx.InsertDevice(ctx, diskDevice(vm.ID, d.ID, 0)))
		}
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			if err := writeAll(t.Context(), tx); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v, want fn's error", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a panic in fn did not reach the caller")
				}
			}()
			_ = s.Tx(t.Context(), func(tx store.Tx) error {
				if err := writeAll(t.Context(), tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		assertNoVMs(t, s)
		// The store still works after both.
		mustTx(t, s, writeAll)
	})
}

func assertNoVMs(t *testing.T, s store.Store) {
	t.Helper()
	err := s.View(t.Context(), func(tx store.Tx) error {
		vms, err1 := tx.ListVMs(t.Context(), store.ListOptions{})
		disks, err2 := tx.ListDisks(t.Context(), store.ListOptions{})
		if len(vms)+len(disks) != 0 {
			t.Errorf("after rollback: vms %v, disks %v", vms, disks)
		}
		return errors.Join(err1, err2)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAbortedTx checks that SQLite behaves as PostgreSQL does after a
// statement fails: the transaction refuses further work.
func TestAbortedTx(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm := f.addVM(t, "vm1")
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			if err := tx.InsertVM(t.Context(), vm); !errors.Is(err, store.ErrConflict) {
				t.Errorf("duplicate insert: %v, want ErrConflict", err)
			}
			_, err := tx.GetVM(t.Context(), vm.ID)
			return err
		})
		if !errors.Is(err, sqlstore.ErrAborted) {
			t.Errorf("statement after a failed one: %v, want ErrAborted", err)
		}
	})
}

func TestViewIsReadOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		f.addVM(t, "vm1")
		err := s.View(t.Context(), func(tx store.Tx) error {
			if err := tx.LockVM(t.Context(), "vm-vm1"); err != nil {
				return fmt.Errorf("LockVM in a view: %w", err)
			}
			return tx.InsertVM(t.Context(), f.newVM("vm2"))
		})
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("insert in a View: %v, want a read-only error", err)
		}
	})
}

func TestListOptions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		for _, n := range []string{"web2", "Web1", "db", "web_x", "webAx", "50%off", "500off", "web10"} {
			f.addVM(t, n)
		}
		// Disk aliases repeat, so the id decides their order.
		for _, id := range []string{"c", "a", "b"} {
			d := f.newDisk("same", false)
			d.ID = id
			mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertDisk(ctx, d) })
		}
		vmName := func(vm model.VM) string { return vm.Name }
		for _, c := range []struct {
			o    store.ListOptions
			want []string
		}{
			{store.ListOptions{}, []string{"50%off", "500off", "Web1", "db", "web10", "web2", "webAx", "web_x"}},
			{store.ListOptions{Name: "web*"}, []string{"Web1", "web10", "web2", "webAx", "web_x"}},
			{store.ListOptions{Name: "WEB1"}, []string{"Web1"}},
			{store.ListOptions{Name: "web_x"}, []string{"web_x"}},
			{store.ListOptions{Name: "50%*"}, []string{"50%off"}},
			{store.ListOptions{Name: "*b1*"}, []string{"Web1", "web10"}},
			{store.ListOptions{Name: "*"}, []string{"50%off", "500off", "Web1", "db", "web10", "web2", "webAx", "web_x"}},
			{store.ListOptions{Name: "web*", Max: 2}, []string{"Web1", "web10"}},
			{store.ListOptions{Max: 1}, []string{"50%off"}},
			{store.ListOptions{Name: "nothing*"}, []string{}},
		} {
			var got []string
			err := s.View(t.Context(), func(tx store.Tx) error {
				vms, err := tx.ListVMs(t.Context(), c.o)
				got = ids(vms, vmName)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ListVMs(%+v) (-want +got):\n%s", c.o, diff)
			}
		}
		err := s.View(t.Context(), func(tx store.Tx) error {
			disks, err := tx.ListDisks(t.Context(), store.ListOptions{Name: "SAME"})
			if diff := cmp.Diff([]string{"a", "b", "c"}, ids(disks, func(d model.Disk) string { return d.ID })); diff != "" {
				t.Errorf("disks with one alias are not ordered by id (-want +got):\n%s", diff)
			}
			inSD, err2 := tx.ListDisksInStorageDomain(t.Context(), f.sd.ID)
			if len(inSD) != 3 {
				t.Errorf("ListDisksInStorageDomain: %d disks, want 3", len(inSD))
			}
			return errors.Join(err, err2)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		var want []model.AuditEvent
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for i := range 5 {
				e := model.AuditEvent{
					Time: when.Add(time.Duration(i) * time.Second), Severity: "normal", Code: "USER_ADD_VM",
					Message: fmt.Sprintf("VM vm%d was created", i), User: "admin@internal", VMID: fmt.Sprint("vm-", i),
					DiskID: "d", HostID: "h",
				}
				id, err := tx.InsertEvent(ctx, e)
				if err != nil {
					return err
				}
				e.ID = id
				want = append([]model.AuditEvent{e}, want...) // newest first
			}
			return nil
		})
		list := func(since int64, max int) []model.AuditEvent {
			var got []model.AuditEvent
			err := s.View(t.Context(), func(tx store.Tx) (err error) {
				got, err = tx.ListEvents(t.Context(), since, max)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if diff := cmp.Diff(want, list(0, 0)); diff != "" {
			t.Errorf("ListEvents(0, 0) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[:3], list(want[3].ID, 0)); diff != "" {
			t.Errorf("ListEvents(since) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[:2], list(0, 2)); diff != "" {
			t.Errorf("ListEvents(max) (-want +got):\n%s", diff)
		}
		// A zero time is stamped now.
		before := time.Now().Add(-time.Second)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.InsertEvent(ctx, model.AuditEvent{Severity: "warning", Message: "m"})
			return err
		})
		if got := list(0, 1)[0]; got.Time.Before(before) || got.ID <= want[0].ID {
			t.Errorf("event without a time: %+v", got)
		}
	})
}

func TestConfig(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		start := time.Now().Add(-time.Second)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(
				tx.SetConfig(ctx, "MaxDisks", "general", "16383"),
				tx.SetConfig(ctx, "VirtIoScsiEnabled", "4.8", "true"),
				tx.SetConfig(ctx, "VirtIoScsiEnabled", "3.2", "false"),
				tx.SetConfig(ctx, "MaxDisks", "general", "4096")) // replaces
		})
		var got []store.ConfigValue
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			v, err := tx.GetConfig(ctx, "MaxDisks", "general")
			if v != "4096" {
				t.Errorf("GetConfig = %q, want the second value", v)
			}
			var err2 error
			got, err2 = tx.ListConfig(ctx)
			return errors.Join(err, err2)
		})
		want := []store.ConfigValue{
			{Key: "MaxDisks", Version: "general", Value: "4096"},
			{Key: "VirtIoScsiEnabled", Version: "3.2", Value: "false"},
			{Key: "VirtIoScsiEnabled", Version: "4.8", Value: "true"},
		}
		for i := range got {
			if got[i].Updated.Before(start) || got[i].Updated.Location() != time.UTC {
				t.Errorf("%s/%s updated %v, want now in UTC", got[i].Key, got[i].Version, got[i].Updated)
			}
			got[i].Updated = time.Time{}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListConfig (-want +got):\n%s", diff)
		}
	})
}

// TestConcurrentAllocation runs 64 transactions at once that each pick the
// next free unit of one VM after LockVM, the way the engine allocates
// addresses, through two stores on one database as two engine processes
// would. Without the lock two would pick the same unit and one would fail
// on the unique index; with it, all succeed. On SQLite this also shows that
// writers queue instead of failing with SQLITE_BUSY, within a process and
// between them.
func TestConcurrentAllocation(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, dsn string) {
		stores := []store.Store{openStore(t, dsn), openStore(t, dsn)}
		f := newFixture(t, stores[0])
		vm := f.addVM(t, "busy")
		const n = 64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- stores[i%2].Tx(t.Context(), func(tx store.Tx) error {
					ctx := t.Context()
					if err := tx.LockVM(ctx, vm.ID); err != nil {
						return err
					}
					devs, err := tx.ListDevicesOfVM(ctx, vm.ID)
					if err != nil {
						return err
					}
					next := uint16(0)
					for _, d := range devs {
						if d.Address != nil && d.Address.Unit >= next {
							next = d.Address.Unit + 1
						}
					}
					return tx.InsertDevice(ctx, diskDevice(vm.ID, fmt.Sprintf("dev-%02d", i), next))
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Tx: %v", err)
			}
		}
		var devs []model.VmDevice
		err := stores[1].View(t.Context(), func(tx store.Tx) (err error) {
			devs, err = tx.ListDevicesOfVM(t.Context(), vm.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		units := map[scsi.DriveAddress]bool{}
		for _, d := range devs {
			units[*d.Address] = true
		}
		if len(devs) != n || len(units) != n {
			t.Errorf("%d devices at %d distinct addresses, want %d of each", len(devs), len(units), n)
		}
	})
}

// TestConcurrentOpen starts two stores on one fresh database at once: the
// migration lock must let both succeed.
func TestConcurrentOpen(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, dsn string) {
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { openStore(t, dsn) })
		}
		wg.Wait()
		// And again, on a migrated database.
		s := openStore(t, dsn)
		newFixture(t, s)
	})
}

// TestSQLiteConnections checks the settings of every SQLite connection.
func TestSQLiteConnections(t *testing.T) {
	db := openStore(t, sqltest.SQLite(t))
	write, read := sqlstore.Pools(db)
	for _, c := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"read", "foreign_keys", "1"},
		{"read", "query_only", "1"},
		{"read", "busy_timeout", "10000"},
	} {
		pool := write
		if c.pool == "read" {
			pool = read
		}
		var got string
		if err := pool.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s pool: PRAGMA %s = %s, want %s", c.pool, c.pragma, got, c.want)
		}
	}
	if got := write.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("write pool holds up to %d connections, want 1", got)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "sqlite::memory:", "sqlite:/tmp/a?b"} {
		if db, err := sqlstore.Open(t.Context(), dsn, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

// TestDeadlockIsRetried makes two transactions lock two VMs in opposite
// orders. PostgreSQL aborts one with deadlock_detected and Tx runs it
// again; on SQLite the write lock serialises them and no deadlock can occur.
func TestDeadlockIsRetried(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		a, b := f.addVM(t, "a"), f.addVM(t, "b")
		// On PostgreSQL both first hold their first lock; SQLite runs one
		// transaction after the other, so waiting there would hang.
		concurrent := s.(*sqlstore.DB).Dialect() == "postgres"
		var runs atomic.Int32
		var bothLocked sync.WaitGroup
		bothLocked.Add(2)
		lockBoth := func(first, second string) error {
			var once sync.Once
			return s.Tx(t.Context(), func(tx store.Tx) error {
				ctx := t.Context()
				runs.Add(1)
				if err := tx.LockVM(ctx, first); err != nil {
					return err
				}
				if concurrent {
					once.Do(func() { bothLocked.Done(); bothLocked.Wait() })
				}
				if err := tx.LockVM(ctx, second); err != nil {
					return err
				}
				vm, err := tx.GetVM(ctx, second)
				if err != nil {
					return err
				}
				vm.Description += "+" + first
				return tx.UpdateVM(ctx, vm)
			})
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = lockBoth(a.ID, b.ID) })
		wg.Go(func() { errs[1] = lockBoth(b.ID, a.ID) })
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("Tx: %v", err)
		}
		if concurrent && runs.Load() < 3 {
			t.Errorf("fn ran %d times, want a retry after the deadlock", runs.Load())
		}
	})
}
