package agent

import (
	"sync"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// controllerSet remembers, per VM, the virtio-scsi controller indexes its
// domain has, so that a SCSI hot-plug checks its controller (libvirt would
// silently add a missing one) without formatting and parsing the domain XML,
// which for thousands of disks is megabytes and most of a hot-plug's cost.
// It is filled when this agent starts a VM or hot-plugs a controller, and
// from the domain XML when a VM is unknown (started by an earlier agent
// process, migrated in) or seems to lack the controller, so a stale entry
// can cost a reading, never a wrong refusal.
type controllerSet struct {
	mu   sync.Mutex
	byVM map[string]map[uint16]bool
}

// set records the controllers a VM has now.
func (c *controllerSet) set(vmID string, idx []uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byVM == nil {
		c.byVM = map[string]map[uint16]bool{}
	}
	m := make(map[uint16]bool, len(idx))
	for _, i := range idx {
		m[i] = true
	}
	c.byVM[vmID] = m
}

// add records one more controller of a VM whose controllers are known.
func (c *controllerSet) add(vmID string, idx uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.byVM[vmID]; m != nil {
		m[idx] = true
	}
}

// has tells whether the VM is known to have controller idx.
func (c *controllerSet) has(vmID string, idx uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byVM[vmID][idx]
}

func specControllers(vm vmspec.VM) []uint16 {
	out := make([]uint16, len(vm.Controllers))
	for i, ctl := range vm.Controllers {
		out[i] = ctl.Index
	}
	return out
}

func liveControllers(live domxml.Live) []uint16 {
	var out []uint16
	for _, dev := range live.Devices {
		if dev.Kind == domxml.KindController && dev.Model == "virtio-scsi" {
			out = append(out, dev.Index)
		}
	}
	return out
}
