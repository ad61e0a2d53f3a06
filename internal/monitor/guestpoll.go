package monitor

import (
	"sort"
	"strings"
	"time"

	"github.com/govirt/govirt/internal/engine"
)

// Asking a guest agent which disks the guest sees is not free: under TCG a
// guest with a hundred disks spends seconds of its vCPU answering
// guest-get-disks, and asking every 2 s made each hot-plug 1.7x slower to
// show up in the guest (docs/PERFORMANCE.md). So the monitor asks only when
// the answer can have changed: the VM's live disks changed, some active disk
// is not named yet, or guestRefresh passed (a change inside the guest).
// While disks are unnamed it waits between questions unnamedWaitFactor
// times as long as the guest took to answer the last one: a guest booting
// with 4,096 disks takes seconds per answer, and asking it back to back
// kept its one vCPU busy answering instead of probing its disks.

// guestRefresh is how often a quiet guest is asked anyway.
const guestRefresh = 30 * time.Second

// unnamedWaitFactor bounds the guest's time spent answering while some of
// its disks are unnamed to about a fifth.
const unnamedWaitFactor = 4

// guestPoll is what the monitor remembers of one VM's last answer.
type guestPoll struct {
	host    string
	live    string // the live disks the answer was about
	unnamed int    // active disks the guest did not show
	asked   time.Time
	took    time.Duration // how long the guest took to answer
}

// guestPolls decides, per VM, when to ask the guest agent again. Only the
// monitor's poll loop uses it, so it needs no lock.
type guestPolls map[string]guestPoll

// due tells whether the VM's guest agent should be asked now.
func (g guestPolls) due(vmID, live string, now time.Time) bool {
	p, ok := g[vmID]
	since := now.Sub(p.asked)
	return !ok || p.live != live || p.unnamed > 0 && since >= unnamedWaitFactor*p.took || since >= guestRefresh
}

// answered records an answer, asked at asked and received at now, that
// left unnamed disks unnamed.
func (g *guestPolls) answered(hostID, vmID, live string, unnamed int, asked, now time.Time) {
	if *g == nil {
		*g = guestPolls{}
	}
	(*g)[vmID] = guestPoll{host: hostID, live: live, unnamed: unnamed, asked: now, took: now.Sub(asked)}
}

// forget drops the host's VMs that no longer run there.
func (g guestPolls) forget(hostID string, running map[string]bool) {
	for id, p := range g {
		if p.host == hostID && !running[id] {
			delete(g, id)
		}
	}
}

// liveSignature names a set of live disks by their ids and addresses.
func liveSignature(disks []engine.LiveDisk) string {
	parts := make([]string, len(disks))
	for i, d := range disks {
		parts[i] = d.ID
		if d.Address != nil {
			parts[i] += "@" + d.Address.String()
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
