package agentrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/govirt/govirt/internal/agent"
	pb "github.com/govirt/govirt/internal/agentrpc/agentpb"
	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// eventBuffer absorbs a burst of events (a host shutting many VMs down)
// while the engine is busy with the previous one.
const eventBuffer = 64

// PingInfo identifies an agent and its hypervisor stack.
type PingInfo struct {
	HostID         string
	Hostname       string
	LibvirtVersion string // empty when the agent could not tell
	QEMUVersion    string // empty when the agent could not tell
	AgentVersion   string
}

// Client calls one agent. It has the methods of Service, so the engine can
// hold a remote agent and a local one behind the same interface. Errors keep
// the agent's message and satisfy errors.Is for the agent's sentinel errors.
type Client struct {
	conn  *grpc.ClientConn
	rpc   pb.AgentClient
	owned bool // Dial opened conn, so Close closes it

	mu     sync.Mutex
	hostID string
}

var _ Service = (*Client)(nil)

// Dial connects to the agent at target ("unix:///run/govirt/agent.sock" or
// "host:port") and pings it, so that a wrong address, a refused certificate
// or an agent that is not running fails here and not at the first real call.
// creds nil means plain text, which Dial allows on unix sockets only: file
// permissions protect those, nothing protects TCP.
func Dial(ctx context.Context, target string, creds credentials.TransportCredentials) (*Client, error) {
	if creds == nil {
		if !strings.HasPrefix(target, "unix:") {
			return nil, fmt.Errorf("agentrpc: dial %s: plain text is allowed on unix sockets only", target)
		}
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientPingEvery,
			Timeout:             clientPingTimeout,
			PermitWithoutStream: true,
		}),
		// An agent that restarts is back within seconds; gRPC's default
		// backoff (up to two minutes) would keep its host non_responsive
		// long after it answers again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("agentrpc: dial %s: %w", target, err)
	}
	c := NewClient(conn)
	c.owned = true
	if _, err := c.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("agentrpc: dial %s: %w", target, err)
	}
	return c, nil
}

// NewClient uses a connection the caller made and keeps owning (tests, or a
// caller that needs its own dial options). HostID stays empty until Ping.
func NewClient(conn *grpc.ClientConn) *Client {
	return &Client{conn: conn, rpc: pb.NewAgentClient(conn)}
}

// Close releases the connection Dial opened; on a Client from NewClient it
// does nothing, since the caller owns that connection.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("agentrpc: close: %w", err)
	}
	return nil
}

func wrap(method string, err error) error {
	return fmt.Errorf("agentrpc %s: %w", method, fromStatus(err))
}

// Ping asks the agent who it is and remembers the host id for HostID.
func (c *Client) Ping(ctx context.Context) (PingInfo, error) {
	r, err := c.rpc.Ping(ctx, &pb.PingRequest{})
	if err != nil {
		return PingInfo{}, wrap("Ping", err)
	}
	c.mu.Lock()
	c.hostID = r.GetHostId()
	c.mu.Unlock()
	return PingInfo{
		HostID:         r.GetHostId(),
		Hostname:       r.GetHostname(),
		LibvirtVersion: r.GetLibvirtVersion(),
		QEMUVersion:    r.GetQemuVersion(),
		AgentVersion:   r.GetAgentVersion(),
	}, nil
}

// HostID is the host id the agent reported at the last Ping (Dial pings).
func (c *Client) HostID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hostID
}

// StartVM starts vm on the agent's host.
func (c *Client) StartVM(ctx context.Context, vm vmspec.VM) error {
	if _, err := c.rpc.StartVM(ctx, &pb.StartVMRequest{Vm: vmToPB(vm)}); err != nil {
		return wrap("StartVM", err)
	}
	return nil
}

// ShutdownVM asks the guest to power off; timeout 0 means the agent's default.
// ctx must outlive timeout, or the call ends before the agent answers.
func (c *Client) ShutdownVM(ctx context.Context, id string, timeout time.Duration) error {
	if _, err := c.rpc.ShutdownVM(ctx, &pb.ShutdownVMRequest{Id: id, TimeoutMs: durationToMS(timeout)}); err != nil {
		return wrap("ShutdownVM", err)
	}
	return nil
}

// DestroyVM stops a VM at once.
func (c *Client) DestroyVM(ctx context.Context, id string) error {
	if _, err := c.rpc.DestroyVM(ctx, &pb.DestroyVMRequest{Id: id}); err != nil {
		return wrap("DestroyVM", err)
	}
	return nil
}

// ListVMs lists the agent's VMs.
func (c *Client) ListVMs(ctx context.Context) ([]agent.VMStatus, error) {
	r, err := c.rpc.ListVMs(ctx, &pb.ListVMsRequest{})
	if err != nil {
		return nil, wrap("ListVMs", err)
	}
	var out []agent.VMStatus
	for _, v := range r.GetVms() {
		out = append(out, statusFromPB(v))
	}
	return out, nil
}

// LiveVM reads a running VM's devices from libvirt.
func (c *Client) LiveVM(ctx context.Context, id string) (agent.LiveVM, error) {
	r, err := c.rpc.GetLiveVM(ctx, &pb.GetLiveVMRequest{Id: id})
	if err != nil {
		return agent.LiveVM{}, wrap("GetLiveVM", err)
	}
	vm, err := liveVMFromPB(r)
	if err != nil {
		return agent.LiveVM{}, fmt.Errorf("agentrpc GetLiveVM: %w", err)
	}
	return vm, nil
}

// HotPlugDisk attaches d to a running VM.
func (c *Client) HotPlugDisk(ctx context.Context, vmID string, d vmspec.Disk) error {
	if _, err := c.rpc.HotPlugDisk(ctx, &pb.HotPlugDiskRequest{VmId: vmID, Disk: diskToPB(d)}); err != nil {
		return wrap("HotPlugDisk", err)
	}
	return nil
}

// ChangeMedia inserts, changes or ejects a running VM's CD-ROM media.
func (c *Client) ChangeMedia(ctx context.Context, vmID string, d vmspec.Disk) error {
	if _, err := c.rpc.ChangeMedia(ctx, &pb.HotPlugDiskRequest{VmId: vmID, Disk: diskToPB(d)}); err != nil {
		return wrap("ChangeMedia", err)
	}
	return nil
}

// SetSCSIPolicy changes, live, the SCSI command policy of a running VM's
// LUN disk that was started with one.
func (c *Client) SetSCSIPolicy(ctx context.Context, vmID, diskID string, spec scsipolicy.Spec) error {
	req := &pb.SetSCSIPolicyRequest{VmId: vmID, DiskId: diskID, Policy: policyToPB(spec)}
	if _, err := c.rpc.SetSCSIPolicy(ctx, req); err != nil {
		return wrap("SetSCSIPolicy", err)
	}
	return nil
}

// SCSIPolicyStats reports, per LUN disk of a VM with a policy proxy, the
// commands it saw and refused.
func (c *Client) SCSIPolicyStats(ctx context.Context, vmID string) (map[string]proxy.Stats, error) {
	r, err := c.rpc.GetSCSIPolicyStats(ctx, &pb.GetSCSIPolicyStatsRequest{VmId: vmID})
	if err != nil {
		return nil, wrap("GetSCSIPolicyStats", err)
	}
	out := map[string]proxy.Stats{}
	for _, d := range r.GetDisks() {
		st := proxy.Stats{Connections: d.GetConnections(), Commands: d.GetCommands(), Refused: d.GetRefused()}
		if d.GetLastRefused() != "" {
			if op, err := scsipolicy.ParseOp(d.GetLastRefused()); err == nil {
				st.LastRefused = op
			}
		}
		out[d.GetDiskId()] = st
	}
	return out, nil
}

// HotUnplugDisk detaches a disk and waits up to timeout (0: the agent's
// default) for the guest to let go; ctx must outlive timeout.
func (c *Client) HotUnplugDisk(ctx context.Context, vmID, diskID string, timeout time.Duration) error {
	req := &pb.HotUnplugDiskRequest{VmId: vmID, DiskId: diskID, TimeoutMs: durationToMS(timeout)}
	if _, err := c.rpc.HotUnplugDisk(ctx, req); err != nil {
		return wrap("HotUnplugDisk", err)
	}
	return nil
}

// HotPlugController adds a virtio-scsi controller to a running VM.
func (c *Client) HotPlugController(ctx context.Context, vmID string, ctl vmspec.Controller) error {
	req := &pb.HotPlugControllerRequest{VmId: vmID, Controller: controllerToPB(ctl)}
	if _, err := c.rpc.HotPlugController(ctx, req); err != nil {
		return wrap("HotPlugController", err)
	}
	return nil
}

// GuestDisks lists the disks the guest agent reports.
func (c *Client) GuestDisks(ctx context.Context, vmID string) ([]agent.GuestDisk, error) {
	r, err := c.rpc.GuestDisks(ctx, &pb.GuestDisksRequest{VmId: vmID})
	if err != nil {
		return nil, wrap("GuestDisks", err)
	}
	var out []agent.GuestDisk
	for _, d := range r.GetDisks() {
		out = append(out, guestDiskFromPB(d))
	}
	return out, nil
}

// GuestExec runs path with args in the guest, feeding it stdin; timeout 0
// means the agent's default, and ctx must outlive timeout.
func (c *Client) GuestExec(ctx context.Context, vmID, path string, args []string, stdin []byte, timeout time.Duration) (agent.ExecResult, error) {
	req := &pb.GuestExecRequest{VmId: vmID, Path: path, Args: args, Stdin: stdin, TimeoutMs: durationToMS(timeout)}
	r, err := c.rpc.GuestExec(ctx, req)
	if err != nil {
		return agent.ExecResult{}, wrap("GuestExec", err)
	}
	return execFromPB(r), nil
}

// CreateVolume creates an image volume and returns its path on the host.
func (c *Client) CreateVolume(ctx context.Context, v agent.Volume) (string, error) {
	r, err := c.rpc.CreateVolume(ctx, &pb.CreateVolumeRequest{Volume: volumeToPB(v)})
	if err != nil {
		return "", wrap("CreateVolume", err)
	}
	return r.GetPath(), nil
}

// RemoveVolume deletes an image volume.
func (c *Client) RemoveVolume(ctx context.Context, v agent.Volume) error {
	if _, err := c.rpc.RemoveVolume(ctx, &pb.RemoveVolumeRequest{Volume: volumeToPB(v)}); err != nil {
		return wrap("RemoveVolume", err)
	}
	return nil
}

// Events subscribes to the agent's VM events. It returns once the agent has
// confirmed the subscription, so a ListVMs made after it misses nothing. The
// channel closes when ctx ends or the stream breaks (the agent stopped, the
// host vanished): the engine then re-subscribes and re-lists. Events of kinds
// this engine does not know are dropped.
func (c *Client) Events(ctx context.Context) (<-chan agent.Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.WatchEvents(ctx, &pb.WatchRequest{})
	if err != nil {
		cancel()
		return nil, wrap("WatchEvents", err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("agentrpc WatchEvents: %w: stream ended before the handshake", ErrBadMessage)
		}
		return nil, wrap("WatchEvents", err)
	}
	if first.GetKind() != pb.EventKind_EVENT_KIND_AGENT_CONNECTED {
		cancel()
		return nil, fmt.Errorf("agentrpc WatchEvents: %w: first event is %v, not the handshake", ErrBadMessage, first.GetKind())
	}
	out := make(chan agent.Event, eventBuffer)
	go func() {
		defer close(out)
		defer cancel()
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			ev, ok := eventFromPB(m)
			if !ok {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
