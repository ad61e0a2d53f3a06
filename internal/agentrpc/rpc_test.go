package agentrpc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

func TestRoundTripUnix(t *testing.T) {
	f := newFake()
	exerciseAll(t, unixClient(t, f), f)
}

func TestRoundTripMTLS(t *testing.T) {
	f := newFake()
	exerciseAll(t, tlsClient(t, f), f)
}

// exerciseAll calls every RPC once and checks that the arguments reach the
// Service and the results reach the caller unchanged.
func exerciseAll(t *testing.T, c *Client, f *fake) {
	ctx := testCtx(t)
	wantCall := func(want ...any) {
		t.Helper()
		if d := cmp.Diff(want, f.lastCall(), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("service saw (-want +got):\n%s", d)
		}
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Ping", func(t *testing.T) {
		if c.HostID() != "host-7" {
			t.Errorf("HostID after Dial = %q", c.HostID())
		}
		info, err := c.Ping(ctx)
		check(err)
		if info.HostID != "host-7" || info.LibvirtVersion != "9.0.0" || info.QEMUVersion != "8.2.0" ||
			info.Hostname == "" || info.AgentVersion == "" {
			t.Errorf("Ping = %+v", info)
		}
	})
	t.Run("StartVM", func(t *testing.T) {
		vm := fullVM()
		check(c.StartVM(ctx, vm))
		wantCall("StartVM", vm)
	})
	t.Run("ShutdownVM", func(t *testing.T) {
		check(c.ShutdownVM(ctx, "vm1", 90*time.Second))
		wantCall("ShutdownVM", "vm1", 90*time.Second)
		check(c.ShutdownVM(ctx, "vm1", 0))
		wantCall("ShutdownVM", "vm1", time.Duration(0))
	})
	t.Run("DestroyVM", func(t *testing.T) {
		check(c.DestroyVM(ctx, "vm1"))
		wantCall("DestroyVM", "vm1")
	})
	t.Run("ListVMs", func(t *testing.T) {
		f.vms = []agent.VMStatus{{ID: "a", Name: "na", State: agent.StateRunning}, {ID: "b", Name: "nb", State: agent.StateShutoff}}
		got, err := c.ListVMs(ctx)
		check(err)
		if d := cmp.Diff(f.vms, got); d != "" {
			t.Errorf("ListVMs (-want +got):\n%s", d)
		}
	})
	t.Run("LiveVM", func(t *testing.T) {
		f.live = agent.LiveVM{
			VMStatus: agent.VMStatus{ID: "a", Name: "na", State: agent.StateRunning},
			Devices: []agent.LiveDevice{{Alias: "ua-d", Kind: "disk", Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk,
				TargetDev: "sda", Address: &scsi.DriveAddress{Controller: 1, Unit: 2}, Source: "/x"}},
		}
		got, err := c.LiveVM(ctx, "a")
		check(err)
		wantCall("LiveVM", "a")
		if d := cmp.Diff(f.live, got); d != "" {
			t.Errorf("LiveVM (-want +got):\n%s", d)
		}
	})
	t.Run("HotPlugDisk", func(t *testing.T) {
		d := fullVM().Disks[1]
		check(c.HotPlugDisk(ctx, "a", d))
		wantCall("HotPlugDisk", "a", d)
	})
	t.Run("ChangeMedia", func(t *testing.T) {
		d := fullVM().Disks[1]
		check(c.ChangeMedia(ctx, "a", d))
		wantCall("ChangeMedia", "a", d)
	})
	t.Run("HotUnplugDisk", func(t *testing.T) {
		check(c.HotUnplugDisk(ctx, "a", "d1", 5*time.Second))
		wantCall("HotUnplugDisk", "a", "d1", 5*time.Second)
	})
	t.Run("HotPlugController", func(t *testing.T) {
		ctl := vmspec.Controller{Index: 3, Queues: 2, IOThread: 1}
		check(c.HotPlugController(ctx, "a", ctl))
		wantCall("HotPlugController", "a", ctl)
	})
	t.Run("GuestDisks", func(t *testing.T) {
		f.disks = []agent.GuestDisk{{Name: "/dev/sda", Serial: "s", BusType: "scsi", Bus: 0, Target: 1, Unit: 300}}
		got, err := c.GuestDisks(ctx, "a")
		check(err)
		wantCall("GuestDisks", "a")
		if d := cmp.Diff(f.disks, got); d != "" {
			t.Errorf("GuestDisks (-want +got):\n%s", d)
		}
	})
	t.Run("GuestExec", func(t *testing.T) {
		f.exec = agent.ExecResult{ExitCode: 3, Stdout: []byte("out"), Stderr: []byte("err")}
		got, err := c.GuestExec(ctx, "a", "/bin/sh", []string{"-c", "exit 3"}, []byte("in\x00put"), time.Minute)
		check(err)
		wantCall("GuestExec", "a", "/bin/sh", []string{"-c", "exit 3"}, []byte("in\x00put"), time.Minute)
		if d := cmp.Diff(f.exec, got); d != "" {
			t.Errorf("GuestExec (-want +got):\n%s", d)
		}
	})
	t.Run("CreateVolume", func(t *testing.T) {
		f.path = "/srv/sd1/vol-9"
		v := agent.Volume{DomainDir: "/srv/sd1", VolumeID: "vol-9", Format: vmspec.FormatQCOW2, SizeBytes: 10 << 30}
		got, err := c.CreateVolume(ctx, v)
		check(err)
		wantCall("CreateVolume", v)
		if got != f.path {
			t.Errorf("CreateVolume = %q", got)
		}
	})
	t.Run("RemoveVolume", func(t *testing.T) {
		v := agent.Volume{DomainDir: "/srv/sd1", VolumeID: "vol-9"}
		check(c.RemoveVolume(ctx, v))
		wantCall("RemoveVolume", v)
	})
	t.Run("Events", func(t *testing.T) {
		evCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := c.Events(evCtx)
		check(err)
		now := time.Now().UTC()
		sent := []agent.Event{
			{VMID: "a", Kind: agent.EventLifecycle, State: agent.StateCrashed, Time: now},
			{VMID: "a", Kind: "from-the-future", Time: now}, // dropped by the server
			{VMID: "a", Kind: agent.EventDeviceRemoved, Alias: "ua-d1", Time: now},
		}
		for _, e := range sent {
			f.events <- e
		}
		for _, want := range []agent.Event{sent[0], sent[2]} {
			got := recvEvent(t, ch)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("event (-want +got):\n%s", d)
			}
		}
		cancel()
		waitClosed(t, ch)
	})
}

func recvEvent(t *testing.T, ch <-chan agent.Event) agent.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return agent.Event{}
}

func waitClosed(t *testing.T, ch <-chan agent.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("event channel not closed")
		}
	}
}

// TestEventsEndWithService: when the agent closes its event channel (it is
// stopping), the engine's channel closes too, so it knows to re-subscribe.
func TestEventsEndWithService(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	ch, err := c.Events(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	f.events <- agent.Event{VMID: "a", Kind: agent.EventDeviceRemovalFailed, Alias: "ua-x"}
	if ev := recvEvent(t, ch); ev.Alias != "ua-x" {
		t.Errorf("got %+v", ev)
	}
	close(f.events)
	waitClosed(t, ch)
}

func TestEventsSubscribeError(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	f.setErr(errors.New("libvirt connection lost"))
	_, err := c.Events(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "libvirt connection lost") {
		t.Fatalf("Events: %v", err)
	}
}

func TestDialPlainTCPRefused(t *testing.T) {
	if _, err := Dial(testCtx(t), "127.0.0.1:1", nil); err == nil {
		t.Fatal("plain-text TCP dial accepted")
	}
}

func TestDialNoAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, "unix://"+t.TempDir()+"/none.sock", nil); err == nil {
		t.Fatal("dial to a missing socket succeeded")
	}
}

// TestLargeExecOutput: the most a guest agent returns (16 MiB each of stdout
// and stderr) fits in one reply, and a large stdin in one request.
func TestLargeExecOutput(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	big := bytes.Repeat([]byte("x"), 16<<20)
	f.exec = agent.ExecResult{Stdout: big, Stderr: big}
	got, err := c.GuestExec(testCtx(t), "a", "/bin/cat", nil, big, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Stdout) != len(big) || len(got.Stderr) != len(big) {
		t.Errorf("got %d+%d bytes", len(got.Stdout), len(got.Stderr))
	}
}
