package sqlstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// crashChildEnv, set to a DSN, makes the test binary the crash test's
// writer instead of running tests.
const crashChildEnv = "GOVIRT_STORE_CRASH_CHILD"

// crashDisks is how many disks each of the writer's VMs has.
const crashDisks = 3

// crashChild commits VMs, each with its disks, attachments and devices in
// one transaction, until it is killed. It prints "ready" after the first
// commit.
func crashChild(dsn string) int {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	deadline := time.Now().Add(time.Minute) // never outlive a lost parent
	for i := 0; time.Now().Before(deadline); i++ {
		tag := fmt.Sprintf("%d-%d", os.Getpid(), i)
		if err := db.Tx(ctx, func(tx store.Tx) error { return writeCrashVM(ctx, tx, tag) }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
	return 0
}

// crashFixture names the parent's topology without inserting it.
var crashFixture = &fixture{cl: model.Cluster{ID: "cl-1"}, sd: model.StorageDomain{ID: "sd-1"}}

func writeCrashVM(ctx context.Context, tx store.Tx, tag string) error {
	vm := crashFixture.newVM("crash-" + tag)
	errs := []error{tx.InsertVM(ctx, vm), tx.InsertDevice(ctx, model.VmDevice{
		ID: "ctl", VMID: vm.ID, Type: model.DeviceTypeController, Device: model.DeviceVirtioSCSI,
		Plugged: true, Managed: true, Controller: &model.ControllerSpec{Queues: 2},
	})}
	for k := range crashDisks {
		d := crashFixture.newDisk(fmt.Sprintf("%s-%d", tag, k), false)
		errs = append(errs, tx.InsertDisk(ctx, d), tx.InsertAttachment(ctx, attachment(vm.ID, d.ID)),
			tx.InsertDevice(ctx, diskDevice(vm.ID, d.ID, uint16(k))))
	}
	return errors.Join(errs...)
}

// TestCrashRecovery kills a writer process at random moments, ten times,
// then checks that the SQLite file is intact and that every VM has all of
// its rows or none: synchronous=FULL in WAL mode loses no committed
// transaction and keeps no partial one.
func TestCrashRecovery(t *testing.T) {
	dsn := sqltest.SQLite(t)
	newFixture(t, openStore(t, dsn))
	for round := range 10 {
		killChild(t, dsn, round%2 == 0)
	}

	sqltest.CheckSQLiteFile(t, strings.TrimPrefix(dsn, "sqlite:"))

	s := openStore(t, dsn)
	err := s.View(t.Context(), func(tx store.Tx) error {
		ctx := t.Context()
		vms, err := tx.ListVMs(ctx, store.ListOptions{Name: "crash-*"})
		if err != nil {
			return err
		}
		disks, err := tx.ListDisks(ctx, store.ListOptions{})
		if err != nil {
			return err
		}
		if len(vms) < 5 || len(disks) != crashDisks*len(vms) {
			t.Errorf("%d VMs and %d disks survived, want at least 5 VMs (one per wait for a commit) with %d disks each", len(vms), len(disks), crashDisks)
		}
		for _, vm := range vms {
			atts, err1 := tx.ListAttachmentsOfVM(ctx, vm.ID)
			devs, err2 := tx.ListDevicesOfVM(ctx, vm.ID)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if len(atts) != crashDisks || len(devs) != crashDisks+1 {
				t.Errorf("vm %s has %d attachments and %d devices, want %d and %d", vm.Name, len(atts), len(devs), crashDisks, crashDisks+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// killChild runs the writer and SIGKILLs it: after its first commit and a
// random pause when afterCommit, otherwise at a random moment from its start
// (possibly while it opens the database).
func killChild(t *testing.T, dsn string, afterCommit bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dsn)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if afterCommit {
		ready := make(chan bool, 1)
		go func() { ready <- bufio.NewScanner(stdout).Scan() }()
		select {
		case ok := <-ready:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("writer exited before its first commit: %s", stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("writer did not commit in 30s: %s", stderr.String())
		}
	}
	time.Sleep(rand.N(300 * time.Millisecond))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill writer: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended with %v before it was killed: %s", err, stderr.String())
	}
}
