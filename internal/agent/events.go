package agent

import (
	"context"
	"sync"
)

// ownedSet is a set of VM ids. Agent.mine remembers which VMs this agent
// started or found tagged as its own, so events of other agents' domains on
// a shared libvirtd are dropped; Agent.staging those still being started.
type ownedSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *ownedSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
}

func (s *ownedSet) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	had := s.ids[id]
	delete(s.ids, id)
	return had
}

func (s *ownedSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// Events streams libvirt events about this agent's VMs until ctx ends.
func (a *Agent) Events(ctx context.Context) (<-chan Event, error) {
	in := a.hv.Subscribe(ctx)
	vms, err := a.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	for _, vm := range vms {
		a.mine.add(vm.ID)
	}
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		for ev := range in {
			if !a.mine.has(ev.VMID) {
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
