package engine

import (
	"context"
	"errors"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// Host is what the engine needs of a host agent. agentrpc.Client implements
// it for real agents; tests use a recording fake.
type Host interface {
	StartVM(ctx context.Context, vm vmspec.VM) error
	ShutdownVM(ctx context.Context, id string, timeout time.Duration) error
	DestroyVM(ctx context.Context, id string) error
	HotPlugDisk(ctx context.Context, vmID string, d vmspec.Disk) error
	HotUnplugDisk(ctx context.Context, vmID, diskID string, timeout time.Duration) error
	HotPlugController(ctx context.Context, vmID string, c vmspec.Controller) error
	ChangeMedia(ctx context.Context, vmID string, d vmspec.Disk) error
	// SetSCSIPolicy changes the policy a plugged pass-through LUN is held
	// to, at once.
	SetSCSIPolicy(ctx context.Context, vmID, diskID string, spec scsipolicy.Spec) error
	CreateVolume(ctx context.Context, v agent.Volume) (string, error)
	RemoveVolume(ctx context.Context, v agent.Volume) error
	// PrepareMigration readies the destination for an incoming live
	// migration of vm (its LUN proxies, its domain XML) and says how the
	// source reaches it.
	PrepareMigration(ctx context.Context, vm vmspec.VM) (agent.MigrationTarget, error)
	// MigrateVM live-migrates a VM of this host to the prepared target and
	// returns once it runs there.
	MigrateVM(ctx context.Context, vmID string, to agent.MigrationTarget) error
	// FinishIncoming ends an incoming migration on the destination: ok
	// keeps the VM, otherwise what PrepareMigration made is undone.
	FinishIncoming(ctx context.Context, vmID string, ok bool) error
}

// HostDialer finds the agent of a host.
type HostDialer interface {
	Host(ctx context.Context, hostID string) (Host, error)
}

// ErrBadSecret is what an Enroller's error wraps when the agent and the
// engine hold different bootstrap secrets.
var ErrBadSecret = errors.New("bootstrap secret mismatch")

// Enroller takes a new agent under the engine's trust and says which host id
// it answers to. secret is the agent's one-time bootstrap secret; empty when
// the agent should already trust the engine.
type Enroller interface {
	Enroll(ctx context.Context, addr, secret string) (hostID string, err error)
}
