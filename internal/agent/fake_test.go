package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// fakeHV is a recording stand-in for libvirt in the agent's unit tests of
// its own logic (waiting for events, ownership, fallbacks). Everything it
// fakes is also covered against the real libvirtd in test/e2e.
type fakeHV struct {
	mu       sync.Mutex
	doms     map[string]fakeDom
	subs     []chan Event
	calls    []string
	xmls     []string                            // domain and device XML handed to create and attach
	detach   func(h *fakeHV, uuid, alias string) // what happens after a detach request
	guest    func(cmd string) (string, error)    // guest agent replies
	refuses  map[ShutdownMode]bool               // shutdown requests the guest ignores
	xmlReads int                                 // domain XML read back
	// peer receives migrated domains; migrateErr fails migrations.
	peer       *fakeHV
	migrateErr error
	attach     func(n int) error     // fails the n-th attach (from 1) when it returns an error
	create     func(disks int) error // fails a create with that many devices when it returns an error
	attachN    int
	during     func() // called at each attach, as the agent attaches
}

type fakeDom struct {
	vm     vmspec.VM
	hostID string
}

func newFakeHV() *fakeHV {
	return &fakeHV{doms: map[string]fakeDom{}, refuses: map[ShutdownMode]bool{}}
}

func (h *fakeHV) record(format string, args ...any) {
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

func (h *fakeHV) add(vm vmspec.VM, hostID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.doms[vm.ID] = fakeDom{vm: vm, hostID: hostID}
}

func (h *fakeHV) CreateDomain(_ context.Context, xml string, paused bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	live, err := domxml.ParseLive(xml)
	if err != nil {
		return err
	}
	if h.create != nil {
		if err := h.create(len(live.Devices)); err != nil {
			h.record("create-refused %s", live.UUID)
			return err
		}
	}
	if paused {
		h.record("create-paused %s", live.UUID)
	} else {
		h.record("create %s", live.UUID)
	}
	h.xmls = append(h.xmls, xml)
	h.doms[live.UUID] = fakeDom{vm: vmspec.VM{ID: live.UUID, Name: live.Name}, hostID: live.HostID}
	return nil
}

func (h *fakeHV) DomainXML(_ context.Context, uuid string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.doms[uuid]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, uuid)
	}
	h.xmlReads++
	vm := d.vm
	if vm.MemoryMiB == 0 {
		vm.MemoryMiB, vm.VCPUs, vm.VirtType = 64, 1, vmspec.VirtQEMU
	}
	return domxml.Marshal(vm, domxml.Options{HostID: d.hostID, ConsolePath: "/dev/null"})
}

func (h *fakeHV) DomainOwner(_ context.Context, uuid string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.doms[uuid]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, uuid)
	}
	return d.hostID, nil
}

func (h *fakeHV) Domains(context.Context) ([]DomainInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []DomainInfo
	for id, d := range h.doms {
		out = append(out, DomainInfo{UUID: id, Name: d.vm.Name, State: StateRunning, HostID: d.hostID})
	}
	return out, nil
}

func (h *fakeHV) Shutdown(_ context.Context, uuid string, mode ShutdownMode) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("shutdown %s %d", uuid, mode)
	if h.refuses[mode] {
		return nil // accepted, but the guest never powers off
	}
	delete(h.doms, uuid)
	return nil
}

func (h *fakeHV) Destroy(_ context.Context, uuid string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("destroy %s", uuid)
	delete(h.doms, uuid)
	return nil
}

func (h *fakeHV) AttachDevice(_ context.Context, uuid, xml string) error {
	if h.during != nil {
		h.during()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attachN++
	if h.attach != nil {
		if err := h.attach(h.attachN); err != nil {
			return err
		}
	}
	h.record("attach %s", uuid)
	h.xmls = append(h.xmls, xml)
	return nil
}

func (h *fakeHV) Resume(_ context.Context, uuid string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("resume %s", uuid)
	return nil
}

func (h *fakeHV) UpdateDevice(_ context.Context, uuid, xml string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("update %s", uuid)
	return nil
}

func (h *fakeHV) DetachDeviceAlias(_ context.Context, uuid, alias string) error {
	h.mu.Lock()
	h.record("detach %s %s", uuid, alias)
	fn := h.detach
	h.mu.Unlock()
	if fn != nil {
		go fn(h, uuid, alias)
	}
	return nil
}

// remove drops a disk from the fake domain and announces it, as libvirt does
// when QEMU reports DEVICE_DELETED.
func (h *fakeHV) remove(uuid, alias string) {
	h.mu.Lock()
	d := h.doms[uuid]
	var kept []vmspec.Disk
	for _, disk := range d.vm.Disks {
		if disk.Alias() != alias {
			kept = append(kept, disk)
		}
	}
	d.vm.Disks = kept
	h.doms[uuid] = d
	h.mu.Unlock()
	h.emit(Event{VMID: uuid, Kind: EventDeviceRemoved, Alias: alias})
}

func (h *fakeHV) emit(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		s <- ev
	}
}

func (h *fakeHV) AgentCommand(_ context.Context, _ string, cmd string, _ time.Duration) (string, error) {
	if h.guest == nil {
		return "", ErrGuestAgent
	}
	var req struct {
		Execute string `json:"execute"`
	}
	if err := json.Unmarshal([]byte(cmd), &req); err != nil {
		return "", err
	}
	return h.guest(req.Execute)
}

func (h *fakeHV) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, 16)
	h.mu.Lock()
	h.subs = append(h.subs, ch)
	h.mu.Unlock()
	return ch
}

func (h *fakeHV) Versions(context.Context) (string, string, error) { return "9.0.0", "7.2.0", nil }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (h *fakeHV) Migrate(ctx context.Context, uuid, destURI, destXML string, unsafe bool) error {
	h.mu.Lock()
	h.record("migrate %s %s unsafe=%v", uuid, destURI, unsafe)
	_, ok := h.doms[uuid]
	err := h.migrateErr
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, uuid)
	}
	if err != nil {
		return err
	}
	if err := h.peer.CreateDomain(ctx, destXML, false); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.doms, uuid)
	return nil
}
