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
//
// The same holds for the first question to a VM that just started, whose
// cost is not known yet: it comes when the guest is busiest, finding its
// disks, and with 256 disks it took the guest 8-10 s. So a VM first seen
// running waits as if a question had just been asked that cost what the
// host's guests last took per disk (firstCostPerDisk before any answered),
// times its disks: a 3-disk guest is asked after about a second, a
// 256-disk one after about a minute and a half under TCG. And a question
// that failed counts as well as one that was answered: a guest that timed
// out still spent that time answering.

// firstCostPerDisk is what a question is taken to cost per disk on a host
// whose guests have not answered yet: about what a TCG guest takes
// (22-69 ms per disk measured with 64 and 256 disks). A KVM guest answers
// far faster; its first answer sets the host's estimate.
const firstCostPerDisk = 40 * time.Millisecond

// guestRefresh is how often a quiet guest is asked anyway.
const guestRefresh = 30 * time.Second

// guestPoll is what the monitor remembers of one VM's questions.
type guestPoll struct {
	host    string
	live    string // the live disks the last answer was about
	unnamed int    // active disks the guest did not show
	// pending is true until a question is answered, and again after one
	// failed: the next due time asks whatever changed.
	pending bool
	asked   time.Time
	next    time.Time // not before: the last question's cost times dutyFactor
}

// guestPolls decides, per VM, when to ask the guest agent again. Only the
// monitor's poll loop uses it, so it needs no lock.
type guestPolls struct {
	vms map[string]guestPoll
	// perDisk is, per host, what the last question cost per live disk:
	// the estimate for a VM's first question.
	perDisk map[string]time.Duration
}

// due tells whether the guest agent of a VM on host, whose live domain has
// the disks live (its signature) and disks of them, should be asked now.
func (g *guestPolls) due(hostID, vmID, live string, disks int, now time.Time) bool {
	p, ok := g.vms[vmID]
	if !ok {
		// First seen: the budget starts now, with the expected cost.
		p = guestPoll{host: hostID, pending: true, next: pauseAfter(now, g.estimate(hostID, disks))}
		g.record(vmID, p)
	}
	if now.Before(p.next) {
		return false
	}
	return p.pending || p.live != live || p.unnamed > 0 || now.Sub(p.asked) >= guestRefresh
}

// estimate is what a question to a guest with disks disks on host is
// expected to cost.
func (g *guestPolls) estimate(hostID string, disks int) time.Duration {
	c, ok := g.perDisk[hostID]
	if !ok {
		c = firstCostPerDisk
	}
	return c * time.Duration(max(disks, 1))
}

// answered records an answer about the live disks live (disks of them),
// asked at asked and received took later, that left unnamed disks
// unnamed.
func (g *guestPolls) answered(hostID, vmID, live string, disks, unnamed int, asked time.Time, took time.Duration) {
	g.record(vmID, guestPoll{host: hostID, live: live, unnamed: unnamed, asked: asked, next: pauseAfter(asked, took)})
	g.learn(hostID, disks, took, true)
}

// failed records a question asked at asked that failed took later (no
// guest agent yet, a timeout): it is asked again when its pause is over.
// A slow failure teaches the host's estimate a lower bound.
func (g *guestPolls) failed(hostID, vmID string, disks int, asked time.Time, took time.Duration) {
	p := g.vms[vmID]
	p.host, p.pending, p.asked, p.next = hostID, true, asked, pauseAfter(asked, took)
	g.record(vmID, p)
	g.learn(hostID, disks, took, false)
}

func (g *guestPolls) record(vmID string, p guestPoll) {
	if g.vms == nil {
		g.vms = map[string]guestPoll{}
	}
	g.vms[vmID] = p
}

// learn keeps the cost per disk of the host's last answer; a failure only
// raises it (a fast "agent not connected" says nothing of the cost).
func (g *guestPolls) learn(hostID string, disks int, took time.Duration, answered bool) {
	if g.perDisk == nil {
		g.perDisk = map[string]time.Duration{}
	}
	c := took / time.Duration(max(disks, 1))
	if answered || c > g.perDisk[hostID] {
		g.perDisk[hostID] = c
	}
}

// forget drops the host's VMs that no longer run there; what the host's
// questions cost is kept for the next VM it starts.
func (g *guestPolls) forget(hostID string, running map[string]bool) {
	for id, p := range g.vms {
		if p.host == hostID && !running[id] {
			delete(g.vms, id)
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
