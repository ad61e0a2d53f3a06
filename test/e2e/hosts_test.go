package e2e

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/enroll"
	"github.com/govirt/govirt/internal/pki"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// virsh runs a read-only virsh command on the system libvirtd.
func virsh(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls get until ok says its value is the one wanted.
func waitFor[T any](ctx context.Context, t *testing.T, what string, get func() T, ok func(T) bool) T {
	t.Helper()
	for {
		v := get()
		if ok(v) {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never happened; last seen %+v", what, v)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func getHost(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, id string) ovirt.Host {
	var h ovirt.Host
	e.MustDo(ctx, t, http.StatusOK, "GET", "/hosts/"+id, nil, &h)
	return h
}

func getVM(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, id string) ovirt.VM {
	var vm ovirt.VM
	e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+id, nil, &vm)
	return vm
}

func status[T interface{ ovirt.Host | ovirt.VM }](v T) string {
	var s *string
	switch x := any(v).(type) {
	case ovirt.Host:
		s = x.Status
	case ovirt.VM:
		s = x.Status
	}
	if s == nil {
		return ""
	}
	return *s
}

// TestRemoteAgentEnrolledKilledAndRestarted: a second agent process is
// enrolled as a host through the API with its bootstrap secret, runs a VM,
// is killed (host non_responsive, VM unknown, the guest keeps running) and
// restarted (host and VM up again, hot-plug works).
func TestRemoteAgentEnrolledKilledAndRestarted(t *testing.T) {
	t.Parallel()
	remoteAgentFlow(t, "")
}

func TestRemoteAgentEnrolledKilledAndRestartedOnPostgreSQL(t *testing.T) {
	t.Parallel()
	remoteAgentFlow(t, sqltest.Postgres(t))
}

func remoteAgentFlow(t *testing.T, dsn string) {
	ctx := e2eutil.Context(t, 6*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{DB: dsn})
	ra := e2eutil.StartRemoteAgent(t)
	secret := ra.Secret(t)

	newHost := func(pw string) ovirt.Host {
		return ovirt.Host{Name: ovirt.Str("remote1"), Address: ovirt.Str(ra.Host), Port: ovirt.Str(ra.Port),
			RootPassword: ovirt.Str(pw), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}}
	}
	// A wrong secret: refused with the reason, nothing stored.
	st, raw, err := e.Do(ctx, "POST", "/hosts", newHost("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"), nil)
	if err != nil || st != http.StatusBadRequest || !strings.Contains(raw, "bootstrap secret") {
		t.Fatalf("wrong secret: status %d err %v\n%s", st, err, raw)
	}
	var hs ovirt.Hosts
	e.MustDo(ctx, t, http.StatusOK, "GET", "/hosts", nil, &hs)
	if len(hs.Hosts) != 1 {
		t.Fatalf("a refused enrolment stored a host: %+v", hs.Hosts)
	}
	var host ovirt.Host
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/hosts", newHost(secret), &host)
	if status(host) != "up" || host.Port == nil || *host.Port != ra.Port {
		t.Fatalf("enrolled host: %+v", host)
	}
	// The same agent again: a conflict, whatever the secret.
	if st, raw, _ := e.Do(ctx, "POST", "/hosts", newHost(secret), nil); st != http.StatusConflict {
		t.Fatalf("second enrolment: status %d\n%s", st, raw)
	}

	// A VM placed on the remote host.
	vm := engineVM(ctx, t, e, true)
	d1 := addDisk(ctx, t, e, vm.ID, "r1", "virtio_scsi", true)
	var started ovirt.Action
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/start", ovirt.Action{VM: &ovirt.VM{
		PlacementPolicy: &ovirt.PlacementPolicy{Hosts: &ovirt.HostRefs{Hosts: []ovirt.Ref{{Name: ovirt.Str("remote1")}}}}}}, &started)
	if got := getVM(ctx, t, e, vm.ID); got.Host == nil || got.Host.ID != host.ID {
		t.Fatalf("VM runs on %+v, want the remote host %s", got.Host, host.ID)
	}
	if _, err := testguest.WaitInventory(ctx, ra.ConsolePath(vm.ID), hasAll([]string{d1.ID})); err != nil {
		t.Fatal(err)
	}
	local, err := e.Agent(ctx, t).ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range local {
		if v.ID == vm.ID {
			t.Fatal("the local agent lists the remote host's VM")
		}
	}
	domID := virsh(ctx, t, "domid", *vm.Name)

	// The agent dies: the host stops answering, the guest does not.
	ra.Kill(t)
	waitFor(ctx, t, "host non_responsive", func() ovirt.Host { return getHost(ctx, t, e, host.ID) },
		func(h ovirt.Host) bool { return status(h) == "non_responsive" })
	waitFor(ctx, t, "VM unknown", func() ovirt.VM { return getVM(ctx, t, e, vm.ID) },
		func(v ovirt.VM) bool { return status(v) == "unknown" })
	if st := virsh(ctx, t, "domstate", *vm.Name); st != "running" {
		t.Fatalf("guest is %q while its agent is down", st)
	}

	// The agent comes back with its enrolment: host and VM up, same guest.
	ra.Restart(t)
	waitFor(ctx, t, "host up", func() ovirt.Host { return getHost(ctx, t, e, host.ID) },
		func(h ovirt.Host) bool { return status(h) == "up" })
	waitFor(ctx, t, "VM up", func() ovirt.VM { return getVM(ctx, t, e, vm.ID) },
		func(v ovirt.VM) bool { return status(v) == "up" })
	if got := virsh(ctx, t, "domid", *vm.Name); got != domID {
		t.Fatalf("domain id %s became %s: the guest was restarted", domID, got)
	}
	d2 := addDisk(ctx, t, e, vm.ID, "r2", "virtio_scsi", true)
	if _, err := testguest.WaitInventory(ctx, ra.ConsolePath(vm.ID), hasAll([]string{d1.ID, d2.ID})); err != nil {
		t.Fatal(err)
	}
	// Still only mutual TLS: the enrolment endpoint is gone, even for the
	// old secret and an engine with another CA.
	other, err := pki.NewCA("another engine", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enroll.Enrol(ctx, ra.Addr(), secret, other); !errors.Is(err, enroll.ErrNotEnrolling) {
		t.Fatalf("enrolling an enrolled agent again: %v, want ErrNotEnrolling", err)
	}
}
