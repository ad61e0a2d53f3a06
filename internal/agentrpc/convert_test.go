package agentrpc

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/govirt/govirt/internal/agent"
	pb "github.com/govirt/govirt/internal/agentrpc/agentpb"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// fullVM sets every field, so a field the conversion forgets shows up as a
// difference.
func fullVM() vmspec.VM {
	return vmspec.VM{
		ID:        "6f1c9c5e-8a51-4d38-9d3a-2b0c6a7e5f10",
		Name:      "web-1",
		MemoryMiB: 4096,
		VCPUs:     4,
		VirtType:  vmspec.VirtKVM,
		Machine:   "pc-i440fx-7.2",
		Boot:      vmspec.DirectBoot{Kernel: "/boot/vmlinuz", Initrd: "/boot/initrd", Cmdline: "console=ttyS0"},
		IOThreads: 2,
		Controllers: []vmspec.Controller{
			{Index: 0, Queues: 4, IOThread: 1},
			{Index: 65535, Queues: 0, IOThread: 2},
		},
		Disks: []vmspec.Disk{
			{
				ID: "d1", Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: "sda",
				Address:   &scsi.DriveAddress{Controller: 1, Bus: 0, Target: 255, Unit: 16383},
				Serial:    "d1",
				File:      &vmspec.FileSource{DomainDir: "/srv/sd1", VolumeID: "vol-1", Format: vmspec.FormatQCOW2},
				BootOrder: 1, ReadOnly: true, Shareable: true, Discard: true, Cache: "writeback",
				ErrorPolicy: "stop",
			},
			{
				ID: "lun", Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sdb",
				Address: &scsi.DriveAddress{},
				ISCSI:   &vmspec.ISCSISource{Host: "10.0.0.5", Port: 3260, IQN: "iqn.2024-01.org.example:t1", LUN: 7},
				SGIO:    vmspec.SGIOUnfiltered, RawIO: true, Reservations: true,
				SCSIPolicy: &scsipolicy.Spec{Name: "reservations", Description: "d", Base: scsipolicy.BaseFiltered,
					Allow: []string{"0x5e", "0x5f"}, Deny: []string{"0x3b"}},
			},
			{ID: "cd", Bus: vmspec.BusSATA, Device: vmspec.DeviceCDROM, TargetDev: "sdc"},
		},
		GuestAgent: true, Balloon: true, Video: true, USB: true,
	}
}

// fataler is what wire needs from *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// wire sends m through its binary encoding, as gRPC would.
func wire[M proto.Message](t fataler, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func TestVMRoundTrip(t *testing.T) {
	for name, vm := range map[string]vmspec.VM{
		"full":  fullVM(),
		"empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := vmFromPB(wire(t, vmToPB(vm)))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(vm, got); d != "" {
				t.Errorf("round trip (-sent +got):\n%s", d)
			}
		})
	}
}

func TestAddressPresence(t *testing.T) {
	// An absent address must not come back as controller 0 target 0 unit 0.
	d, err := diskFromPB(wire(t, diskToPB(vmspec.Disk{ID: "x"})))
	if err != nil {
		t.Fatal(err)
	}
	if d.Address != nil || d.File != nil || d.ISCSI != nil {
		t.Errorf("absent parts came back: %+v", d)
	}
}

func TestOutOfRangeRefused(t *testing.T) {
	big := uint32(math.MaxUint16 + 1)
	for name, f := range map[string]func() error{
		"controller index": func() error { _, err := controllerFromPB(&pb.Controller{Index: big}); return err },
		"address unit": func() error {
			_, err := diskFromPB(&pb.Disk{Address: &pb.DriveAddress{Unit: big}})
			return err
		},
		"iscsi port": func() error {
			_, err := diskFromPB(&pb.Disk{Iscsi: &pb.ISCSISource{Port: big}})
			return err
		},
		"nested in vm": func() error {
			_, err := vmFromPB(&pb.VMSpec{Disks: []*pb.Disk{{Address: &pb.DriveAddress{Controller: big}}}})
			return err
		},
		"live device index": func() error {
			_, err := liveVMFromPB(&pb.LiveVM{Devices: []*pb.LiveDevice{{Index: big}}})
			return err
		},
		"missing vm":     func() error { _, err := vmFromPB(nil); return err },
		"missing disk":   func() error { _, err := diskFromPB(nil); return err },
		"missing volume": func() error { _, err := volumeFromPB(nil); return err },
	} {
		if err := f(); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: got %v, want ErrBadMessage", name, err)
		}
	}
}

func TestAgentTypesRoundTrip(t *testing.T) {
	live := agent.LiveVM{
		VMStatus: agent.VMStatus{ID: "id", Name: "n", State: agent.StatePaused},
		Devices: []agent.LiveDevice{
			{Alias: "ua-d1", Kind: "disk", Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: "sda",
				Address: &scsi.DriveAddress{Controller: 2, Target: 3, Unit: 300}, Source: "/srv/sd1/vol-1"},
			{Alias: "ua-c1", Kind: "controller", Index: 3, Model: "virtio-scsi"},
		},
	}
	gotLive, err := liveVMFromPB(wire(t, liveVMToPB(live)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(live, gotLive); d != "" {
		t.Errorf("LiveVM (-sent +got):\n%s", d)
	}

	gd := agent.GuestDisk{Name: "/dev/sda", Serial: "0QEMU_QEMU_HARDDISK_d1", BusType: "scsi", Bus: 1, Target: 2, Unit: 3}
	if d := cmp.Diff(gd, guestDiskFromPB(wire(t, guestDiskToPB(gd)))); d != "" {
		t.Errorf("GuestDisk:\n%s", d)
	}
	ex := agent.ExecResult{ExitCode: -1, Stdout: []byte("out\x00"), Stderr: []byte("err")}
	if d := cmp.Diff(ex, execFromPB(wire(t, execToPB(ex)))); d != "" {
		t.Errorf("ExecResult:\n%s", d)
	}
	vol := agent.Volume{DomainDir: "/srv/sd1", VolumeID: "v", Format: vmspec.FormatRaw, SizeBytes: 1 << 40}
	gotVol, err := volumeFromPB(wire(t, volumeToPB(vol)))
	if err != nil || gotVol != vol {
		t.Errorf("Volume: got %+v, %v", gotVol, err)
	}
}

func TestStatesAndEvents(t *testing.T) {
	for _, s := range []agent.State{"", agent.StateRunning, agent.StatePaused, agent.StateShutdown,
		agent.StateShutoff, agent.StateCrashed, agent.StateUnknown} {
		if got := stateFromPB(stateToPB(s)); got != s {
			t.Errorf("state %q came back as %q", s, got)
		}
	}
	if got := stateToPB("migrating"); got != pb.VMState_VM_STATE_UNKNOWN {
		t.Errorf("unlisted state sent as %v", got)
	}
	if got := stateFromPB(pb.VMState(99)); got != agent.StateUnknown {
		t.Errorf("enum from a newer agent read as %q", got)
	}

	now := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	for _, ev := range []agent.Event{
		{VMID: "v", Kind: agent.EventLifecycle, State: agent.StateCrashed, Time: now},
		{VMID: "v", Kind: agent.EventDeviceRemoved, Alias: "ua-d1", Time: now},
		{VMID: "v", Kind: agent.EventDeviceRemovalFailed, Alias: "ua-d2"},
	} {
		m, ok := eventToPB(ev)
		if !ok {
			t.Fatalf("%v not sendable", ev.Kind)
		}
		got, ok := eventFromPB(wire(t, m))
		if !ok {
			t.Fatalf("%v not received", ev.Kind)
		}
		if d := cmp.Diff(ev, got); d != "" {
			t.Errorf("event (-sent +got):\n%s", d)
		}
	}
	if _, ok := eventToPB(agent.Event{Kind: "reboot"}); ok {
		t.Error("unknown kind was sent")
	}
	if _, ok := eventFromPB(&pb.Event{Kind: pb.EventKind_EVENT_KIND_AGENT_CONNECTED}); ok {
		t.Error("handshake surfaced as a VM event")
	}
}

func TestDurations(t *testing.T) {
	for _, c := range []struct {
		d  time.Duration
		ms uint64
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Millisecond, 1},
		{1500 * time.Microsecond, 2}, {90 * time.Second, 90000},
	} {
		if got := durationToMS(c.d); got != c.ms {
			t.Errorf("durationToMS(%v) = %d, want %d", c.d, got, c.ms)
		}
	}
	if got := durationFromMS(math.MaxUint64); got != time.Duration(math.MaxInt64) {
		t.Errorf("huge timeout wrapped to %v", got)
	}
	if got := durationFromMS(2500); got != 2500*time.Millisecond {
		t.Errorf("durationFromMS(2500) = %v", got)
	}
}

// genString draws the strings a spec may hold; proto3 strings must be UTF-8.
func genString() *rapid.Generator[string] {
	return rapid.OneOf(rapid.Just(""), rapid.String(), rapid.StringMatching(`[a-z0-9/._-]{1,20}`))
}

func genPtr[T any](g *rapid.Generator[T]) *rapid.Generator[*T] {
	return rapid.Custom(func(t *rapid.T) *T {
		if !rapid.Bool().Draw(t, "present") {
			return nil
		}
		v := g.Draw(t, "value")
		return &v
	})
}

func genDisk() *rapid.Generator[vmspec.Disk] {
	addr := rapid.Custom(func(t *rapid.T) scsi.DriveAddress {
		return scsi.DriveAddress{
			Controller: rapid.Uint16().Draw(t, "controller"),
			Bus:        rapid.Uint16().Draw(t, "bus"),
			Target:     rapid.Uint16().Draw(t, "target"),
			Unit:       rapid.Uint16().Draw(t, "unit"),
		}
	})
	file := rapid.Custom(func(t *rapid.T) vmspec.FileSource {
		return vmspec.FileSource{
			DomainDir: genString().Draw(t, "dir"),
			VolumeID:  genString().Draw(t, "vol"),
			Format:    vmspec.Format(genString().Draw(t, "format")),
		}
	})
	iscsi := rapid.Custom(func(t *rapid.T) vmspec.ISCSISource {
		return vmspec.ISCSISource{
			Host: genString().Draw(t, "host"),
			Port: rapid.Uint16().Draw(t, "port"),
			IQN:  genString().Draw(t, "iqn"),
			LUN:  rapid.Uint32().Draw(t, "lun"),
		}
	})
	list := rapid.Custom(func(t *rapid.T) []string {
		l := rapid.SliceOf(genString()).Draw(t, "list")
		if len(l) == 0 {
			return nil // proto3 does not tell an empty list from none
		}
		return l
	})
	policy := rapid.Custom(func(t *rapid.T) scsipolicy.Spec {
		return scsipolicy.Spec{
			Name:        genString().Draw(t, "name"),
			Description: genString().Draw(t, "description"),
			Base:        scsipolicy.Base(genString().Draw(t, "base")),
			Allow:       list.Draw(t, "allow"),
			Deny:        list.Draw(t, "deny"),
		}
	})
	return rapid.Custom(func(t *rapid.T) vmspec.Disk {
		return vmspec.Disk{
			SCSIPolicy:   genPtr(policy).Draw(t, "scsi_policy"),
			ID:           genString().Draw(t, "id"),
			Bus:          vmspec.Bus(genString().Draw(t, "bus")),
			Device:       vmspec.Device(genString().Draw(t, "device")),
			TargetDev:    genString().Draw(t, "target_dev"),
			Address:      genPtr(addr).Draw(t, "address"),
			Serial:       genString().Draw(t, "serial"),
			File:         genPtr(file).Draw(t, "file"),
			ISCSI:        genPtr(iscsi).Draw(t, "iscsi"),
			BootOrder:    rapid.Uint32().Draw(t, "boot_order"),
			ReadOnly:     rapid.Bool().Draw(t, "ro"),
			Shareable:    rapid.Bool().Draw(t, "shareable"),
			Discard:      rapid.Bool().Draw(t, "discard"),
			Cache:        genString().Draw(t, "cache"),
			SGIO:         vmspec.SGIO(genString().Draw(t, "sgio")),
			RawIO:        rapid.Bool().Draw(t, "rawio"),
			Reservations: rapid.Bool().Draw(t, "reservations"),
			ErrorPolicy:  genString().Draw(t, "error_policy"),
		}
	})
}

func genVM() *rapid.Generator[vmspec.VM] {
	ctl := rapid.Custom(func(t *rapid.T) vmspec.Controller {
		return vmspec.Controller{
			Index:    rapid.Uint16().Draw(t, "index"),
			Queues:   rapid.Uint32().Draw(t, "queues"),
			IOThread: rapid.Uint32().Draw(t, "iothread"),
		}
	})
	return rapid.Custom(func(t *rapid.T) vmspec.VM {
		return vmspec.VM{
			ID:        genString().Draw(t, "id"),
			Name:      genString().Draw(t, "name"),
			MemoryMiB: rapid.Uint64().Draw(t, "memory"),
			VCPUs:     rapid.Uint32().Draw(t, "vcpus"),
			VirtType:  vmspec.VirtType(genString().Draw(t, "virt_type")),
			Machine:   genString().Draw(t, "machine"),
			Boot: vmspec.DirectBoot{
				Kernel:  genString().Draw(t, "kernel"),
				Initrd:  genString().Draw(t, "initrd"),
				Cmdline: genString().Draw(t, "cmdline"),
			},
			IOThreads:   rapid.Uint32().Draw(t, "iothreads"),
			Controllers: rapid.SliceOfN(ctl, 0, 4).Draw(t, "controllers"),
			Disks:       rapid.SliceOfN(genDisk(), 0, 6).Draw(t, "disks"),
			GuestAgent:  rapid.Bool().Draw(t, "guest_agent"),
			Balloon:     rapid.Bool().Draw(t, "balloon"),
			Video:       rapid.Bool().Draw(t, "video"),
			USB:         rapid.Bool().Draw(t, "usb"),
		}
	})
}

// TestVMRoundTripProperty: any spec the engine can build, valid or not (the
// agent, not the wire, judges validity), arrives unchanged.
func TestVMRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		vm := genVM().Draw(rt, "vm")
		got, err := vmFromPB(wire(rt, vmToPB(vm)))
		if err != nil {
			rt.Fatalf("decode: %v", err)
		}
		// An empty slice and nil are the same spec; the wire cannot tell them apart.
		if d := cmp.Diff(vm, got, cmpopts.EquateEmpty()); d != "" {
			rt.Fatalf("round trip (-sent +got):\n%s", d)
		}
	})
}
