package agentrpc

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/govirt/govirt/internal/agent"
	pb "github.com/govirt/govirt/internal/agentrpc/agentpb"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// ErrBadMessage marks a protocol message that cannot be turned into govirt's
// types: a required part is missing or a number does not fit its Go field.
// It means a bug or a version skew between engine and agent, not a bad spec,
// so it is kept apart from vmspec.ErrInvalid.
var ErrBadMessage = errors.New("malformed agent protocol message")

func badMessage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
}

// u16 narrows a wire uint32 to the uint16 the Go type holds, refusing values
// that would silently wrap around.
func u16(field string, v uint32) (uint16, error) {
	if v > math.MaxUint16 {
		return 0, badMessage("%s %d exceeds %d", field, v, math.MaxUint16)
	}
	return uint16(v), nil
}

// durationToMS rounds up, so that a tiny positive timeout does not turn into
// 0, which means "the agent's default".
func durationToMS(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

func durationFromMS(ms uint64) time.Duration {
	if ms > uint64(math.MaxInt64/int64(time.Millisecond)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

func timeToPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromPB(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func vmToPB(vm vmspec.VM) *pb.VMSpec {
	out := &pb.VMSpec{
		Id:         vm.ID,
		Name:       vm.Name,
		MemoryMib:  vm.MemoryMiB,
		Vcpus:      vm.VCPUs,
		VirtType:   string(vm.VirtType),
		Machine:    vm.Machine,
		Boot:       &pb.DirectBoot{Kernel: vm.Boot.Kernel, Initrd: vm.Boot.Initrd, Cmdline: vm.Boot.Cmdline},
		IoThreads:  vm.IOThreads,
		GuestAgent: vm.GuestAgent,
		Balloon:    vm.Balloon,
		Video:      vm.Video,
		Usb:        vm.USB,
	}
	for _, c := range vm.Controllers {
		out.Controllers = append(out.Controllers, controllerToPB(c))
	}
	for _, d := range vm.Disks {
		out.Disks = append(out.Disks, diskToPB(d))
	}
	return out
}

func vmFromPB(m *pb.VMSpec) (vmspec.VM, error) {
	if m == nil {
		return vmspec.VM{}, badMessage("missing vm")
	}
	vm := vmspec.VM{
		ID:         m.GetId(),
		Name:       m.GetName(),
		MemoryMiB:  m.GetMemoryMib(),
		VCPUs:      m.GetVcpus(),
		VirtType:   vmspec.VirtType(m.GetVirtType()),
		Machine:    m.GetMachine(),
		IOThreads:  m.GetIoThreads(),
		GuestAgent: m.GetGuestAgent(),
		Balloon:    m.GetBalloon(),
		Video:      m.GetVideo(),
		USB:        m.GetUsb(),
	}
	if b := m.GetBoot(); b != nil {
		vm.Boot = vmspec.DirectBoot{Kernel: b.GetKernel(), Initrd: b.GetInitrd(), Cmdline: b.GetCmdline()}
	}
	for i, c := range m.GetControllers() {
		ctl, err := controllerFromPB(c)
		if err != nil {
			return vmspec.VM{}, fmt.Errorf("controller %d: %w", i, err)
		}
		vm.Controllers = append(vm.Controllers, ctl)
	}
	for i, d := range m.GetDisks() {
		disk, err := diskFromPB(d)
		if err != nil {
			return vmspec.VM{}, fmt.Errorf("disk %d: %w", i, err)
		}
		vm.Disks = append(vm.Disks, disk)
	}
	return vm, nil
}

func controllerToPB(c vmspec.Controller) *pb.Controller {
	return &pb.Controller{Index: uint32(c.Index), Queues: c.Queues, IoThread: c.IOThread}
}

func controllerFromPB(m *pb.Controller) (vmspec.Controller, error) {
	if m == nil {
		return vmspec.Controller{}, badMessage("missing controller")
	}
	idx, err := u16("controller index", m.GetIndex())
	if err != nil {
		return vmspec.Controller{}, err
	}
	return vmspec.Controller{Index: idx, Queues: m.GetQueues(), IOThread: m.GetIoThread()}, nil
}

func addressToPB(a *scsi.DriveAddress) *pb.DriveAddress {
	if a == nil {
		return nil
	}
	return &pb.DriveAddress{
		Controller: uint32(a.Controller),
		Bus:        uint32(a.Bus),
		Target:     uint32(a.Target),
		Unit:       uint32(a.Unit),
	}
}

// addressFromPB keeps absence: nil stays nil, so "no address" never becomes
// controller 0, target 0, unit 0.
func addressFromPB(m *pb.DriveAddress) (*scsi.DriveAddress, error) {
	if m == nil {
		return nil, nil
	}
	var a scsi.DriveAddress
	var err error
	for _, f := range []struct {
		name string
		v    uint32
		dst  *uint16
	}{
		{"address controller", m.GetController(), &a.Controller},
		{"address bus", m.GetBus(), &a.Bus},
		{"address target", m.GetTarget(), &a.Target},
		{"address unit", m.GetUnit(), &a.Unit},
	} {
		if *f.dst, err = u16(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

func diskToPB(d vmspec.Disk) *pb.Disk {
	out := &pb.Disk{
		Id:           d.ID,
		Bus:          string(d.Bus),
		Device:       string(d.Device),
		TargetDev:    d.TargetDev,
		Address:      addressToPB(d.Address),
		Serial:       d.Serial,
		BootOrder:    d.BootOrder,
		ReadOnly:     d.ReadOnly,
		Shareable:    d.Shareable,
		Discard:      d.Discard,
		Cache:        d.Cache,
		Sgio:         string(d.SGIO),
		RawIo:        d.RawIO,
		Reservations: d.Reservations,
		ErrorPolicy:  d.ErrorPolicy,
	}
	if f := d.File; f != nil {
		out.File = &pb.FileSource{DomainDir: f.DomainDir, VolumeId: f.VolumeID, Format: string(f.Format)}
	}
	if s := d.ISCSI; s != nil {
		out.Iscsi = &pb.ISCSISource{Host: s.Host, Port: uint32(s.Port), Iqn: s.IQN, Lun: s.LUN}
	}
	if p := d.SCSIPolicy; p != nil {
		out.ScsiPolicy = policyToPB(*p)
	}
	return out
}

func policyToPB(p scsipolicy.Spec) *pb.SCSIPolicy {
	return &pb.SCSIPolicy{Name: p.Name, Description: p.Description, Base: string(p.Base), Allow: p.Allow, Deny: p.Deny}
}

func policyFromPB(m *pb.SCSIPolicy) scsipolicy.Spec {
	return scsipolicy.Spec{Name: m.GetName(), Description: m.GetDescription(), Base: scsipolicy.Base(m.GetBase()),
		Allow: m.GetAllow(), Deny: m.GetDeny()}
}

func diskFromPB(m *pb.Disk) (vmspec.Disk, error) {
	if m == nil {
		return vmspec.Disk{}, badMessage("missing disk")
	}
	addr, err := addressFromPB(m.GetAddress())
	if err != nil {
		return vmspec.Disk{}, err
	}
	d := vmspec.Disk{
		ID:           m.GetId(),
		Bus:          vmspec.Bus(m.GetBus()),
		Device:       vmspec.Device(m.GetDevice()),
		TargetDev:    m.GetTargetDev(),
		Address:      addr,
		Serial:       m.GetSerial(),
		BootOrder:    m.GetBootOrder(),
		ReadOnly:     m.GetReadOnly(),
		Shareable:    m.GetShareable(),
		Discard:      m.GetDiscard(),
		Cache:        m.GetCache(),
		SGIO:         vmspec.SGIO(m.GetSgio()),
		RawIO:        m.GetRawIo(),
		Reservations: m.GetReservations(),
		ErrorPolicy:  m.GetErrorPolicy(),
	}
	if f := m.GetFile(); f != nil {
		d.File = &vmspec.FileSource{DomainDir: f.GetDomainDir(), VolumeID: f.GetVolumeId(), Format: vmspec.Format(f.GetFormat())}
	}
	if s := m.GetIscsi(); s != nil {
		port, err := u16("iscsi port", s.GetPort())
		if err != nil {
			return vmspec.Disk{}, err
		}
		d.ISCSI = &vmspec.ISCSISource{Host: s.GetHost(), Port: port, IQN: s.GetIqn(), LUN: s.GetLun()}
	}
	if p := m.GetScsiPolicy(); p != nil {
		spec := policyFromPB(p)
		d.SCSIPolicy = &spec
	}
	return d, nil
}

// stateTable pairs every agent state with its wire enum. The empty state
// (events that are not lifecycle events) is UNSPECIFIED.
func stateTable() []struct {
	s agent.State
	p pb.VMState
} {
	return []struct {
		s agent.State
		p pb.VMState
	}{
		{"", pb.VMState_VM_STATE_UNSPECIFIED},
		{agent.StateRunning, pb.VMState_VM_STATE_RUNNING},
		{agent.StatePaused, pb.VMState_VM_STATE_PAUSED},
		{agent.StateShutdown, pb.VMState_VM_STATE_SHUTTING_DOWN},
		{agent.StateShutoff, pb.VMState_VM_STATE_SHUTOFF},
		{agent.StateCrashed, pb.VMState_VM_STATE_CRASHED},
		{agent.StateUnknown, pb.VMState_VM_STATE_UNKNOWN},
	}
}

// stateToPB sends a state the protocol does not know as UNKNOWN, which the
// engine already has to handle.
func stateToPB(s agent.State) pb.VMState {
	for _, e := range stateTable() {
		if e.s == s {
			return e.p
		}
	}
	return pb.VMState_VM_STATE_UNKNOWN
}

// stateFromPB reads an enum value from a newer agent as StateUnknown.
func stateFromPB(p pb.VMState) agent.State {
	for _, e := range stateTable() {
		if e.p == p {
			return e.s
		}
	}
	return agent.StateUnknown
}

func statusToPB(s agent.VMStatus) *pb.VMStatus {
	return &pb.VMStatus{Id: s.ID, Name: s.Name, State: stateToPB(s.State)}
}

func statusFromPB(m *pb.VMStatus) agent.VMStatus {
	return agent.VMStatus{ID: m.GetId(), Name: m.GetName(), State: stateFromPB(m.GetState())}
}

func liveVMToPB(vm agent.LiveVM) *pb.LiveVM {
	out := &pb.LiveVM{Status: statusToPB(vm.VMStatus), Busy: vm.Busy}
	for _, d := range vm.Devices {
		out.Devices = append(out.Devices, &pb.LiveDevice{
			Alias:     d.Alias,
			Kind:      d.Kind,
			Bus:       string(d.Bus),
			Device:    string(d.Device),
			TargetDev: d.TargetDev,
			Address:   addressToPB(d.Address),
			Index:     uint32(d.Index),
			Model:     d.Model,
			Source:    d.Source,
		})
	}
	return out
}

func liveVMFromPB(m *pb.LiveVM) (agent.LiveVM, error) {
	vm := agent.LiveVM{VMStatus: statusFromPB(m.GetStatus()), Busy: m.GetBusy()}
	for i, d := range m.GetDevices() {
		addr, err := addressFromPB(d.GetAddress())
		if err != nil {
			return agent.LiveVM{}, fmt.Errorf("device %d: %w", i, err)
		}
		idx, err := u16("device index", d.GetIndex())
		if err != nil {
			return agent.LiveVM{}, fmt.Errorf("device %d: %w", i, err)
		}
		vm.Devices = append(vm.Devices, agent.LiveDevice{
			Alias:     d.GetAlias(),
			Kind:      d.GetKind(),
			Bus:       vmspec.Bus(d.GetBus()),
			Device:    vmspec.Device(d.GetDevice()),
			TargetDev: d.GetTargetDev(),
			Address:   addr,
			Index:     idx,
			Model:     d.GetModel(),
			Source:    d.GetSource(),
		})
	}
	return vm, nil
}

func guestDiskToPB(g agent.GuestDisk) *pb.GuestDisk {
	return &pb.GuestDisk{Name: g.Name, Serial: g.Serial, BusType: g.BusType, Bus: g.Bus, Target: g.Target, Unit: g.Unit}
}

func guestDiskFromPB(m *pb.GuestDisk) agent.GuestDisk {
	return agent.GuestDisk{
		Name:    m.GetName(),
		Serial:  m.GetSerial(),
		BusType: m.GetBusType(),
		Bus:     m.GetBus(),
		Target:  m.GetTarget(),
		Unit:    m.GetUnit(),
	}
}

func execToPB(r agent.ExecResult) *pb.GuestExecReply {
	return &pb.GuestExecReply{ExitCode: int64(r.ExitCode), Stdout: r.Stdout, Stderr: r.Stderr}
}

func execFromPB(m *pb.GuestExecReply) agent.ExecResult {
	return agent.ExecResult{ExitCode: int(m.GetExitCode()), Stdout: m.GetStdout(), Stderr: m.GetStderr()}
}

func volumeToPB(v agent.Volume) *pb.Volume {
	return &pb.Volume{DomainDir: v.DomainDir, VolumeId: v.VolumeID, Format: string(v.Format), SizeBytes: v.SizeBytes}
}

func volumeFromPB(m *pb.Volume) (agent.Volume, error) {
	if m == nil {
		return agent.Volume{}, badMessage("missing volume")
	}
	return agent.Volume{
		DomainDir: m.GetDomainDir(),
		VolumeID:  m.GetVolumeId(),
		Format:    vmspec.Format(m.GetFormat()),
		SizeBytes: m.GetSizeBytes(),
	}, nil
}

func kindTable() []struct {
	k agent.EventKind
	p pb.EventKind
} {
	return []struct {
		k agent.EventKind
		p pb.EventKind
	}{
		{agent.EventLifecycle, pb.EventKind_EVENT_KIND_LIFECYCLE},
		{agent.EventDeviceRemoved, pb.EventKind_EVENT_KIND_DEVICE_REMOVED},
		{agent.EventDeviceRemovalFailed, pb.EventKind_EVENT_KIND_DEVICE_REMOVAL_FAILED},
	}
}

// eventToPB reports false for a kind the protocol cannot carry; the server
// drops such events rather than send a kind the engine cannot act on.
func eventToPB(e agent.Event) (*pb.Event, bool) {
	for _, k := range kindTable() {
		if k.k == e.Kind {
			return &pb.Event{
				VmId:  e.VMID,
				Kind:  k.p,
				State: stateToPB(e.State),
				Alias: e.Alias,
				Time:  timeToPB(e.Time),
			}, true
		}
	}
	return nil, false
}

// eventFromPB reports false for kinds that are not VM events: the stream's
// handshake and kinds added by a newer agent.
func eventFromPB(m *pb.Event) (agent.Event, bool) {
	for _, k := range kindTable() {
		if k.p == m.GetKind() {
			return agent.Event{
				VMID:  m.GetVmId(),
				Kind:  k.k,
				State: stateFromPB(m.GetState()),
				Alias: m.GetAlias(),
				Time:  timeFromPB(m.GetTime()),
			}, true
		}
	}
	return agent.Event{}, false
}
