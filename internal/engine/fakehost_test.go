package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// fakeHost records what the engine asks of a host. The engine's unit tests
// use it; test/e2e proves the same flows against real agents.
type fakeHost struct {
	mu      sync.Mutex
	calls   []string
	running map[string]vmspec.VM
	// incoming are VMs prepared for an incoming migration.
	incoming map[string]vmspec.VM
	fail     map[string]error // by method name
}

func newFakeHost() *fakeHost {
	return &fakeHost{running: map[string]vmspec.VM{}, fail: map[string]error{}}
}

func (h *fakeHost) record(method, format string, args ...any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, method+" "+fmt.Sprintf(format, args...))
	return h.fail[method]
}

func (h *fakeHost) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func (h *fakeHost) StartVM(_ context.Context, vm vmspec.VM) error {
	if err := h.record("StartVM", "%s", vm.ID); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running[vm.ID] = vm
	return nil
}

func (h *fakeHost) ShutdownVM(_ context.Context, id string, _ time.Duration) error {
	if err := h.record("ShutdownVM", "%s", id); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, id)
	return nil
}

func (h *fakeHost) DestroyVM(_ context.Context, id string) error {
	if err := h.record("DestroyVM", "%s", id); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, id)
	return nil
}

func (h *fakeHost) HotPlugDisk(_ context.Context, vmID string, d vmspec.Disk) error {
	if err := h.record("HotPlugDisk", "%s %s", vmID, d.ID); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vm := h.running[vmID]
	vm.Disks = append(vm.Disks, d)
	h.running[vmID] = vm
	return nil
}

func (h *fakeHost) HotUnplugDisk(_ context.Context, vmID, diskID string, _ time.Duration) error {
	if err := h.record("HotUnplugDisk", "%s %s", vmID, diskID); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vm := h.running[vmID]
	var kept []vmspec.Disk
	for _, d := range vm.Disks {
		if d.ID != diskID {
			kept = append(kept, d)
		}
	}
	vm.Disks = kept
	h.running[vmID] = vm
	return nil
}

func (h *fakeHost) HotPlugController(_ context.Context, vmID string, c vmspec.Controller) error {
	return h.record("HotPlugController", "%s %d", vmID, c.Index)
}

func (h *fakeHost) ChangeMedia(_ context.Context, vmID string, d vmspec.Disk) error {
	media := ""
	if d.File != nil {
		media = d.File.VolumeID
	}
	return h.record("ChangeMedia", "%s %s", vmID, media)
}

func (h *fakeHost) CreateVolume(_ context.Context, v agent.Volume) (string, error) {
	return v.DomainDir + "/" + v.VolumeID, h.record("CreateVolume", "%s", v.VolumeID)
}

func (h *fakeHost) RemoveVolume(_ context.Context, v agent.Volume) error {
	return h.record("RemoveVolume", "%s", v.VolumeID)
}

// fakeHosts serves one fakeHost for every host id.
type fakeHosts struct{ h *fakeHost }

func (f fakeHosts) Host(context.Context, string) (Host, error) { return f.h, nil }

func (h *fakeHost) SetSCSIPolicy(_ context.Context, vmID, diskID string, spec scsipolicy.Spec) error {
	return h.record("SetSCSIPolicy", "%s %s %s", vmID, diskID, spec.Name)
}

func (h *fakeHost) PrepareMigration(_ context.Context, vm vmspec.VM) (agent.MigrationTarget, error) {
	if err := h.record("PrepareMigration", "%s", vm.ID); err != nil {
		return agent.MigrationTarget{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.incoming == nil {
		h.incoming = map[string]vmspec.VM{}
	}
	h.incoming[vm.ID] = vm
	return agent.MigrationTarget{URI: "qemu+tls://dest/system", DomainXML: "<domain/>"}, nil
}

func (h *fakeHost) MigrateVM(_ context.Context, vmID string, to agent.MigrationTarget) error {
	if err := h.record("MigrateVM", "%s %s", vmID, to.URI); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, vmID)
	return nil
}

func (h *fakeHost) FinishIncoming(_ context.Context, vmID string, ok bool) error {
	if err := h.record("FinishIncoming", "%s %v", vmID, ok); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.running[vmID] = h.incoming[vmID]
	}
	delete(h.incoming, vmID)
	return nil
}
