package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// crashChildEnv, set to a SQLite file, makes TestCrashChild the crash
// test's engine process.
const crashChildEnv = "GOVIRT_ENGINE_CRASH_DB"

// crashVM is the VM the child works on.
const crashVM = "crash"

// openEngineEnv opens an existing database and builds an engine on it with
// a new fake host; it creates nothing (addTopology does).
func openEngineEnv(tb testing.TB, dsn string) *env {
	tb.Helper()
	ctx := WithCaller(context.Background(), "admin@internal")
	st, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	h := newFakeHost()
	return &env{e: New(Deps{Store: st, Hosts: fakeHosts{h}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		st: st, host: h, ctx: ctx}
}

// addTopology creates newEnv's data center, 4.8 cluster, up host and
// storage domain.
func (v *env) addTopology(tb testing.TB) {
	tb.Helper()
	var err error
	if v.dc, err = v.e.AddDataCenter(v.ctx, model.DataCenter{Name: "Default"}); err != nil {
		tb.Fatal(err)
	}
	if v.cluster, err = v.e.AddCluster(v.ctx, model.Cluster{Name: "Default", DataCenterID: v.dc.ID, Version: model.Version48}); err != nil {
		tb.Fatal(err)
	}
	if _, err = v.e.AddHost(v.ctx, model.Host{Name: "local", Address: "unix:///x", ClusterID: v.cluster.ID, Status: model.HostUp}); err != nil {
		tb.Fatal(err)
	}
	if v.sd, err = v.e.AddStorageDomain(v.ctx, model.StorageDomain{Name: "local", DataCenterID: v.dc.ID, Path: "/var/lib/govirt/sd"}); err != nil {
		tb.Fatal(err)
	}
}

// TestCrashChild is not a test of its own: run by
// TestCrashLeavesDatabaseConsistent with crashChildEnv set, it runs engine
// commands on the VM "crash" until it is killed (or a minute passed, so it
// never outlives a lost parent). It prints "ready" after its first
// successful command. Anything but a user-facing error fails it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		return // a helper process entry point, not a test
	}
	v := openEngineEnv(t, "sqlite:"+path)
	var vmID string
	err := v.st.View(v.ctx, func(tx store.Tx) error {
		vms, err := tx.ListVMs(v.ctx, store.ListOptions{Name: crashVM})
		if err == nil && len(vms) != 1 {
			err = fmt.Errorf("%d VMs named %s", len(vms), crashVM)
		}
		if err != nil {
			return err
		}
		vmID = vms[0].ID
		sds, err := tx.ListStorageDomains(v.ctx, store.ListOptions{})
		if err == nil && len(sds) > 0 {
			v.sd = sds[0]
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	ready, start := false, time.Now()
	for n := 0; time.Since(start) < time.Minute; n++ {
		// Tags name disks and their LUNs, which must be unique across runs.
		op, err := crashStep(v, vmID, rng, fmt.Sprintf("%x-%d", start.UnixNano(), n))
		if err != nil && apperr.KeyOf(err) == "" {
			t.Fatalf("%s: %v", op, err)
		}
		if err == nil && !ready {
			fmt.Println("ready")
			ready = true
		}
	}
}

// crashStep runs one command drawn for the VM's state: attach (with a
// hot plug when the VM runs), plug, unplug, detach, I/O-thread and
// virtio-scsi changes while down, run, live CD-ROM changes and stop. Each
// is one or more transactions of several statements; a plug on a running
// VM is two around the host call.
func crashStep(v *env, vmID string, rng *rand.Rand, tag string) (string, error) {
	ctx := v.ctx
	vm, err := v.e.getVM(ctx, vmID)
	if err != nil {
		return "get vm", err
	}
	var atts []model.DiskAttachment
	if err := v.st.View(ctx, func(tx store.Tx) error {
		atts, err = tx.ListAttachmentsOfVM(ctx, vmID)
		return err
	}); err != nil {
		return "list attachments", err
	}
	var some model.DiskAttachment
	r := rng.IntN(100)
	switch {
	case len(atts) == 0 && r >= 30 && r < 72:
		r = rng.IntN(30) // nothing to plug or detach: attach
	case len(atts) >= 24 && r < 30:
		r = 60 + rng.IntN(12) // enough disks: detach
	}
	if len(atts) > 0 {
		some = atts[rng.IntN(len(atts))]
	}
	down := vm.Status.IsDown()
	switch {
	case r < 30:
		p := DiskParams{Alias: &tag}
		if r < 25 {
			p.LUN = &model.ISCSILun{Address: "127.0.0.1", Port: 3260, Target: "iqn.2026-11.dev.govirt:crash", LunID: tag}
		} else {
			p.ProvisionedSize, p.StorageDomainID = ptr(int64(1<<30)), &v.sd.ID
		}
		d, err := v.e.AddDisk(ctx, p)
		if err != nil {
			return "add disk", err
		}
		iface := model.InterfaceVirtIOSCSI
		if rng.IntN(5) == 0 {
			iface = model.InterfaceVirtIO
		}
		_, err = v.e.AttachDisk(ctx, vmID, d.ID, AttachParams{Interface: &iface, Active: ptr(true)})
		return "attach " + string(iface), err
	case r < 45:
		_, err := v.e.HotUnplug(ctx, vmID, some.DiskID)
		return "unplug", err
	case r < 60:
		_, err := v.e.HotPlug(ctx, vmID, some.DiskID)
		return "plug", err
	case r < 72:
		return "detach", v.e.DetachDisk(ctx, vmID, some.DiskID, rng.IntN(2) == 0)
	case down && r < 85:
		_, err := v.e.UpdateVM(ctx, vmID, VMParams{IOThreads: ptr(rng.IntN(4)), VirtioSCSIMultiQueues: ptr(rng.IntN(3) - 1)})
		return "io threads", err
	case down && r < 88:
		_, err := v.e.UpdateVM(ctx, vmID, VMParams{VirtioSCSIEnabled: ptr(rng.IntN(4) > 0)})
		return "virtio-scsi", err
	case down:
		_, err := v.e.RunVM(ctx, vmID)
		return "run", err
	case r >= 90:
		_, err := v.e.StopVM(ctx, vmID)
		return "stop", err
	case r < 76:
		_, err := v.e.SetCDROM(ctx, vmID, fmt.Sprintf("cd%d.iso", rng.IntN(3)), true)
		return "cdrom", err
	}
	_, err = v.e.HotPlug(ctx, vmID, some.DiskID)
	return "plug", err
}

// TestCrashLeavesDatabaseConsistent kills an engine process at random
// moments of its commands, a dozen times, each time continuing on the same
// SQLite file, and checks after each kill that the rows keep every
// invariant, and at the end that the file is intact. A kill between a
// plug's two transactions legitimately leaves the device reserved (plugged
// without the host having it) for reconciliation to settle; the rows are
// consistent all the same.
func TestCrashLeavesDatabaseConsistent(t *testing.T) {
	dsn := sqltest.SQLite(t)
	path := strings.TrimPrefix(dsn, "sqlite:")
	v := newEnv(t, dsn, model.Version48)
	vm := v.vm(t, crashVM, "debian", func(p *VMParams) { p.IOThreads = iptr(2) })
	_, err := v.e.RunVM(v.ctx, vm.ID)
	notErr(t, err)

	const rounds = 12
	last := lastEventID(t, v)
	for round := range rounds {
		killEngine(t, path, 50*time.Millisecond+rand.N(450*time.Millisecond))
		id := lastEventID(t, v)
		if id <= last {
			t.Fatalf("round %d: no event after %d: the engine made no progress", round, last)
		}
		last = id
		checkAllInvariants(t, v.ctx, v.st)
	}
	sqltest.CheckSQLiteFile(t, path)
	fresh := openEngineEnv(t, dsn)
	if n := checkAllInvariants(t, fresh.ctx, fresh.st); n != 1 {
		t.Fatalf("%d VMs, want 1", n)
	}
	vm, err = fresh.e.getVM(fresh.ctx, vm.ID)
	notErr(t, err)
	t.Logf("after %d kills: %d events, vm %s %s with %d devices", rounds, last, vm.Name, vm.Status, len(fresh.devices(t, vm.ID)))
}

func lastEventID(t *testing.T, v *env) int64 {
	t.Helper()
	evs := v.events(t, 1)
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

// killEngine runs TestCrashChild on path and SIGKILLs it after its first
// command and a pause of after.
func killEngine(t *testing.T, path string, after time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
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
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	var out []string
	timeout := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("engine exited before its first command:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, line)
			ready = line == "ready"
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("engine ran no command in 30s:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
		}
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill engine: %v", err)
	}
	for line := range lines {
		out = append(out, line)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("engine ended with %v before it was killed:\n%s\n%s", err, strings.Join(out, "\n"), stderr.String())
	}
}
