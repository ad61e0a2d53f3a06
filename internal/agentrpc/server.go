package agentrpc

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/govirt/govirt/internal/agent"
	pb "github.com/govirt/govirt/internal/agentrpc/agentpb"
	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// Service is what the server needs from the agent. It is defined here, by
// its consumer, so the RPC layer depends on behaviour and not on the agent's
// implementation, and so that *Client satisfies it too: the engine then
// drives a local agent or a remote one through the same interface.
type Service interface {
	HostID() string
	StartVM(ctx context.Context, vm vmspec.VM) error
	ShutdownVM(ctx context.Context, id string, timeout time.Duration) error
	DestroyVM(ctx context.Context, id string) error
	ListVMs(ctx context.Context) ([]agent.VMStatus, error)
	LiveVM(ctx context.Context, id string) (agent.LiveVM, error)
	HotPlugDisk(ctx context.Context, vmID string, d vmspec.Disk) error
	ChangeMedia(ctx context.Context, vmID string, d vmspec.Disk) error
	HotUnplugDisk(ctx context.Context, vmID, diskID string, timeout time.Duration) error
	HotPlugController(ctx context.Context, vmID string, c vmspec.Controller) error
	GuestDisks(ctx context.Context, vmID string) ([]agent.GuestDisk, error)
	GuestExec(ctx context.Context, vmID, path string, args []string, stdin []byte, timeout time.Duration) (agent.ExecResult, error)
	CreateVolume(ctx context.Context, v agent.Volume) (string, error)
	RemoveVolume(ctx context.Context, v agent.Volume) error
	Events(ctx context.Context) (<-chan agent.Event, error)
}

// VersionReporter is optionally implemented by a Service that can tell which
// libvirt and QEMU it drives; Ping then reports them so the engine can refuse
// or work around hosts with a stack it does not support.
type VersionReporter interface {
	Versions(ctx context.Context) (libvirt, qemu string, err error)
}

// SCSIPolicyService is optionally implemented by a Service whose LUN disks
// can run behind an iSCSI proxy enforcing a SCSI command policy; without it
// SetSCSIPolicy and GetSCSIPolicyStats answer Unimplemented.
type SCSIPolicyService interface {
	SetSCSIPolicy(ctx context.Context, vmID, diskID string, spec scsipolicy.Spec) error
	SCSIPolicyStats(vmID string) map[string]proxy.Stats
}

// The host agent enforces SCSI command policies.
var _ SCSIPolicyService = (*agent.Agent)(nil)

// Server exposes a Service as the Agent gRPC service. It translates messages
// and errors only; every decision stays in the Service.
type Server struct {
	pb.UnimplementedAgentServer
	svc Service
	log *slog.Logger
}

// NewServer wraps svc; log receives one record per failed call (nil: discard).
func NewServer(svc Service, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{svc: svc, log: log}
}

// Register adds the Agent service to g, which the caller owns (creates with
// ServerOptions, serves and stops).
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterAgentServer(g, s)
}

// fail logs err and converts it to the status the client decodes. Errors the
// engine caused (not found, invalid spec, a VM still starting) are routine and logged at debug
// level; the rest at warn, since they are the agent's or the host's problem.
func (s *Server) fail(ctx context.Context, method string, err error) error {
	st := toStatus(err)
	level := slog.LevelWarn
	switch status.Code(st) {
	case codes.NotFound, codes.AlreadyExists, codes.InvalidArgument, codes.Canceled, codes.FailedPrecondition:
		level = slog.LevelDebug
	}
	s.log.LogAttrs(ctx, level, "agent rpc failed", slog.String("method", method),
		slog.String("code", status.Code(st).String()), slog.Any("err", err))
	return st
}

// Ping reports who this agent is.
func (s *Server) Ping(ctx context.Context, _ *pb.PingRequest) (*pb.PingReply, error) {
	out := &pb.PingReply{HostId: s.svc.HostID(), AgentVersion: agentVersion()}
	if h, err := os.Hostname(); err == nil {
		out.Hostname = h
	}
	if vr, ok := s.svc.(VersionReporter); ok {
		lv, qv, err := vr.Versions(ctx)
		if err != nil {
			// Ping must keep working when libvirt is down: that is when the
			// engine most needs to reach the host.
			s.log.LogAttrs(ctx, slog.LevelWarn, "cannot read hypervisor versions", slog.Any("err", err))
		}
		out.LibvirtVersion, out.QemuVersion = lv, qv
	}
	return out, nil
}

// agentVersion is the module version the binary was built from, "(devel)"
// for a build from a work tree.
func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// StartVM starts the VM the engine describes.
func (s *Server) StartVM(ctx context.Context, req *pb.StartVMRequest) (*pb.StartVMReply, error) {
	vm, err := vmFromPB(req.GetVm())
	if err == nil {
		err = s.svc.StartVM(ctx, vm)
	}
	if err != nil {
		return nil, s.fail(ctx, "StartVM", err)
	}
	return &pb.StartVMReply{}, nil
}

// ShutdownVM asks a guest to power off.
func (s *Server) ShutdownVM(ctx context.Context, req *pb.ShutdownVMRequest) (*pb.ShutdownVMReply, error) {
	if err := s.svc.ShutdownVM(ctx, req.GetId(), durationFromMS(req.GetTimeoutMs())); err != nil {
		return nil, s.fail(ctx, "ShutdownVM", err)
	}
	return &pb.ShutdownVMReply{}, nil
}

// DestroyVM stops a VM at once.
func (s *Server) DestroyVM(ctx context.Context, req *pb.DestroyVMRequest) (*pb.DestroyVMReply, error) {
	if err := s.svc.DestroyVM(ctx, req.GetId()); err != nil {
		return nil, s.fail(ctx, "DestroyVM", err)
	}
	return &pb.DestroyVMReply{}, nil
}

// ListVMs lists the agent's VMs.
func (s *Server) ListVMs(ctx context.Context, _ *pb.ListVMsRequest) (*pb.ListVMsReply, error) {
	vms, err := s.svc.ListVMs(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListVMs", err)
	}
	out := &pb.ListVMsReply{}
	for _, v := range vms {
		out.Vms = append(out.Vms, statusToPB(v))
	}
	return out, nil
}

// GetLiveVM reads a running VM's devices.
func (s *Server) GetLiveVM(ctx context.Context, req *pb.GetLiveVMRequest) (*pb.LiveVM, error) {
	vm, err := s.svc.LiveVM(ctx, req.GetId())
	if err != nil {
		return nil, s.fail(ctx, "GetLiveVM", err)
	}
	return liveVMToPB(vm), nil
}

// HotPlugDisk attaches a disk.
func (s *Server) HotPlugDisk(ctx context.Context, req *pb.HotPlugDiskRequest) (*pb.HotPlugDiskReply, error) {
	d, err := diskFromPB(req.GetDisk())
	if err == nil {
		err = s.svc.HotPlugDisk(ctx, req.GetVmId(), d)
	}
	if err != nil {
		return nil, s.fail(ctx, "HotPlugDisk", err)
	}
	return &pb.HotPlugDiskReply{}, nil
}

// ChangeMedia changes a CD-ROM's media.
func (s *Server) ChangeMedia(ctx context.Context, req *pb.HotPlugDiskRequest) (*pb.HotPlugDiskReply, error) {
	d, err := diskFromPB(req.GetDisk())
	if err == nil {
		err = s.svc.ChangeMedia(ctx, req.GetVmId(), d)
	}
	if err != nil {
		return nil, s.fail(ctx, "ChangeMedia", err)
	}
	return &pb.HotPlugDiskReply{}, nil
}

// SetSCSIPolicy changes a running LUN's SCSI command policy.
func (s *Server) SetSCSIPolicy(ctx context.Context, req *pb.SetSCSIPolicyRequest) (*pb.SetSCSIPolicyReply, error) {
	ps, ok := s.svc.(SCSIPolicyService)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this agent has no SCSI command policies")
	}
	if req.GetPolicy() == nil {
		return nil, s.fail(ctx, "SetSCSIPolicy", badMessage("missing policy"))
	}
	if err := ps.SetSCSIPolicy(ctx, req.GetVmId(), req.GetDiskId(), policyFromPB(req.GetPolicy())); err != nil {
		return nil, s.fail(ctx, "SetSCSIPolicy", err)
	}
	return &pb.SetSCSIPolicyReply{}, nil
}

// GetSCSIPolicyStats reports what a VM's LUN proxies saw.
func (s *Server) GetSCSIPolicyStats(_ context.Context, req *pb.GetSCSIPolicyStatsRequest) (*pb.GetSCSIPolicyStatsReply, error) {
	ps, ok := s.svc.(SCSIPolicyService)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this agent has no SCSI command policies")
	}
	out := &pb.GetSCSIPolicyStatsReply{}
	for id, st := range ps.SCSIPolicyStats(req.GetVmId()) {
		m := &pb.SCSIPolicyStats{DiskId: id, Connections: st.Connections, Commands: st.Commands, Refused: st.Refused}
		if st.Refused > 0 {
			m.LastRefused = st.LastRefused.String()
		}
		out.Disks = append(out.Disks, m)
	}
	return out, nil
}

// HotUnplugDisk detaches a disk.
func (s *Server) HotUnplugDisk(ctx context.Context, req *pb.HotUnplugDiskRequest) (*pb.HotUnplugDiskReply, error) {
	err := s.svc.HotUnplugDisk(ctx, req.GetVmId(), req.GetDiskId(), durationFromMS(req.GetTimeoutMs()))
	if err != nil {
		return nil, s.fail(ctx, "HotUnplugDisk", err)
	}
	return &pb.HotUnplugDiskReply{}, nil
}

// HotPlugController adds a virtio-scsi controller.
func (s *Server) HotPlugController(ctx context.Context, req *pb.HotPlugControllerRequest) (*pb.HotPlugControllerReply, error) {
	c, err := controllerFromPB(req.GetController())
	if err == nil {
		err = s.svc.HotPlugController(ctx, req.GetVmId(), c)
	}
	if err != nil {
		return nil, s.fail(ctx, "HotPlugController", err)
	}
	return &pb.HotPlugControllerReply{}, nil
}

// GuestDisks lists the disks the guest sees.
func (s *Server) GuestDisks(ctx context.Context, req *pb.GuestDisksRequest) (*pb.GuestDisksReply, error) {
	disks, err := s.svc.GuestDisks(ctx, req.GetVmId())
	if err != nil {
		return nil, s.fail(ctx, "GuestDisks", err)
	}
	out := &pb.GuestDisksReply{}
	for _, d := range disks {
		out.Disks = append(out.Disks, guestDiskToPB(d))
	}
	return out, nil
}

// GuestExec runs a command in the guest.
func (s *Server) GuestExec(ctx context.Context, req *pb.GuestExecRequest) (*pb.GuestExecReply, error) {
	res, err := s.svc.GuestExec(ctx, req.GetVmId(), req.GetPath(), req.GetArgs(), req.GetStdin(), durationFromMS(req.GetTimeoutMs()))
	if err != nil {
		return nil, s.fail(ctx, "GuestExec", err)
	}
	return execToPB(res), nil
}

// CreateVolume creates an image volume.
func (s *Server) CreateVolume(ctx context.Context, req *pb.CreateVolumeRequest) (*pb.CreateVolumeReply, error) {
	v, err := volumeFromPB(req.GetVolume())
	var path string
	if err == nil {
		path, err = s.svc.CreateVolume(ctx, v)
	}
	if err != nil {
		return nil, s.fail(ctx, "CreateVolume", err)
	}
	return &pb.CreateVolumeReply{Path: path}, nil
}

// RemoveVolume deletes an image volume.
func (s *Server) RemoveVolume(ctx context.Context, req *pb.RemoveVolumeRequest) (*pb.RemoveVolumeReply, error) {
	v, err := volumeFromPB(req.GetVolume())
	if err == nil {
		err = s.svc.RemoveVolume(ctx, v)
	}
	if err != nil {
		return nil, s.fail(ctx, "RemoveVolume", err)
	}
	return &pb.RemoveVolumeReply{}, nil
}

// WatchEvents subscribes to the Service's events for as long as the client
// stays. The AGENT_CONNECTED event goes out only once the subscription
// exists, so the engine knows that a re-list after it misses nothing. The
// stream ends cleanly when the Service closes its channel (agent stopping).
func (s *Server) WatchEvents(_ *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.Event]) error {
	ctx := stream.Context()
	events, err := s.svc.Events(ctx)
	if err != nil {
		return s.fail(ctx, "WatchEvents", err)
	}
	hello := &pb.Event{Kind: pb.EventKind_EVENT_KIND_AGENT_CONNECTED, Time: timestamppb.Now()}
	if err := stream.Send(hello); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return toStatus(ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			m, ok := eventToPB(ev)
			if !ok {
				s.log.LogAttrs(ctx, slog.LevelWarn, "dropping event of unknown kind",
					slog.String("vm", ev.VMID), slog.String("kind", string(ev.Kind)))
				continue
			}
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}
