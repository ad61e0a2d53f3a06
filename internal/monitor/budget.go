package monitor

import "time"

// Reading a VM's live devices costs in proportion to its disks: for 16,000
// disks the agent formats and parses megabytes of domain XML and the engine
// compares as many rows, for seconds of CPU. Polled every 2 s, and at once
// after each event (every hot-plug sends one), a large VM would keep the
// monitor busy all the time and make a series of hot-plugs quadratic. So a
// VM's devices are read again only after a pause of dutyFactor times what
// the last reading cost: small VMs are read at every poll as before, a VM
// whose reading takes 1 s is read every 10 s or so.

// dutyFactor bounds the share of time the monitor spends reading one VM to
// about 1/(1+dutyFactor).
const dutyFactor = 9

// pauseAfter is when work that started at start and took took may run
// again: after a pause of dutyFactor times its cost.
func pauseAfter(start time.Time, took time.Duration) time.Time {
	return start.Add(took + dutyFactor*took)
}

// readBudget remembers, per VM, when its devices may be read again. Only
// the monitor's poll loop uses it, so it needs no lock.
type readBudget map[string]readSlot

type readSlot struct {
	host string
	next time.Time
}

// due tells whether the VM's devices may be read at now.
func (b readBudget) due(vmID string, now time.Time) bool {
	s, ok := b[vmID]
	return !ok || !now.Before(s.next)
}

// spent records a reading of a VM on host that started at start and took
// took.
func (b *readBudget) spent(hostID, vmID string, start time.Time, took time.Duration) {
	if *b == nil {
		*b = readBudget{}
	}
	(*b)[vmID] = readSlot{host: hostID, next: pauseAfter(start, took)}
}

// forget drops the host's VMs that no longer run there.
func (b readBudget) forget(hostID string, running map[string]bool) {
	for id, s := range b {
		if s.host == hostID && !running[id] {
			delete(b, id)
		}
	}
}
