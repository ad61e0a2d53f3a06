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
// is not named yet, or guestRefresh passed (a change inside the guest);
// and, like reading live devices (budget.go), never more than about a tenth
// of the time: a guest with a thousand disks that takes seconds to answer
// while it is still finding its disks is not asked again every 2 s.

// guestRefresh is how often a quiet guest is asked anyway.
const guestRefresh = 30 * time.Second

// guestPoll is what the monitor remembers of one VM's last answer.
type guestPoll struct {
	host    string
	live    string // the live disks the answer was about
	unnamed int    // active disks the guest did not show
	asked   time.Time
	next    time.Time // not before: the last answer's cost times dutyFactor
}

// guestPolls decides, per VM, when to ask the guest agent again. Only the
// monitor's poll loop uses it, so it needs no lock.
type guestPolls map[string]guestPoll

// due tells whether the VM's guest agent should be asked now.
func (g guestPolls) due(vmID, live string, now time.Time) bool {
	p, ok := g[vmID]
	if !ok {
		return true
	}
	return !now.Before(p.next) && (p.live != live || p.unnamed > 0 || now.Sub(p.asked) >= guestRefresh)
}

// answered records an answer, asked at asked and received took later,
// that left unnamed disks unnamed.
func (g *guestPolls) answered(hostID, vmID, live string, unnamed int, asked time.Time, took time.Duration) {
	if *g == nil {
		*g = guestPolls{}
	}
	(*g)[vmID] = guestPoll{host: hostID, live: live, unnamed: unnamed, asked: asked, next: pauseAfter(asked, took)}
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
