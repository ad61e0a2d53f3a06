package monitor

import (
	"testing"
	"time"

	"github.com/govirt/govirt/internal/model"
)

func TestNextHostStatus(t *testing.T) {
	cases := []struct {
		cur      model.HostStatus
		answered bool
		misses   int
		want     model.HostStatus
	}{
		{model.HostUp, true, 0, model.HostUp},
		{model.HostUp, false, 1, model.HostConnecting},
		{model.HostConnecting, false, 2, model.HostConnecting},
		{model.HostConnecting, false, NonResponsiveAfter, model.HostNonResponsive},
		{model.HostUp, false, NonResponsiveAfter, model.HostNonResponsive}, // a beat lost while the engine was down
		{model.HostNonResponsive, false, 10, model.HostNonResponsive},
		{model.HostNonResponsive, true, 0, model.HostUp},
		{model.HostConnecting, true, 0, model.HostUp},
	}
	for _, c := range cases {
		if got := NextHostStatus(c.cur, c.answered, c.misses); got != c.want {
			t.Errorf("NextHostStatus(%s, answered=%v, misses=%d) = %s, want %s", c.cur, c.answered, c.misses, got, c.want)
		}
	}
}

func TestOnlyManagedHostsGetHeartbeats(t *testing.T) {
	want := map[model.HostStatus]bool{model.HostUp: true, model.HostConnecting: true, model.HostNonResponsive: true,
		model.HostMaintenance: false, model.HostInstalling: false, model.HostDown: false}
	for s, w := range want {
		if got := heartbeatable(s); got != w {
			t.Errorf("heartbeatable(%s) = %v, want %v", s, got, w)
		}
	}
}

func TestGuestAgentAskedOnlyWhenTheAnswerCanHaveChanged(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var g guestPolls
	if g.due("h", "vm", "a", 1, t0) || !g.due("h", "vm", "a", 1, t0.Add(10*firstCostPerDisk)) {
		t.Fatal("a 1-disk VM first seen is not due ten times a question's first estimate later")
	}
	g.answered("h", "vm", "a", 1, 0, t0, 0)
	cases := []struct {
		name string
		live string
		at   time.Time
		want bool
	}{
		{"nothing changed", "a", t0.Add(2 * time.Second), false},
		{"a disk came or went", "a,b", t0.Add(2 * time.Second), true},
		{"the refresh is due", "a", t0.Add(guestRefresh), true},
	}
	for _, c := range cases {
		if got := g.due("h", "vm", c.live, 1, c.at); got != c.want {
			t.Errorf("%s: due %v, want %v", c.name, got, c.want)
		}
	}
	g.answered("h", "vm", "a,b", 2, 1, t0, 0)
	if !g.due("h", "vm", "a,b", 2, t0.Add(time.Second)) {
		t.Error("a VM with a disk the guest does not show yet is not asked again")
	}
	// A guest that took 3 s to answer is left alone for 30 s, even with
	// disks to name or a disk that came.
	g.answered("h", "slow", "a", 1, 5, t0, 3*time.Second)
	for _, c := range []struct {
		live string
		at   time.Duration
		want bool
	}{{"a", 4 * time.Second, false}, {"a,b", 29 * time.Second, false}, {"a", 30 * time.Second, true}} {
		if got := g.due("h", "slow", c.live, 1, t0.Add(c.at)); got != c.want {
			t.Errorf("slow guest, live %q at +%v: due %v, want %v", c.live, c.at, got, c.want)
		}
	}
	g.answered("other", "vm2", "x", 1, 0, t0, 0)
	g.forget("h", map[string]bool{})
	if _, ok := g.vms["vm"]; ok {
		t.Error("a VM that stopped is remembered")
	}
	if _, ok := g.vms["vm2"]; !ok {
		t.Error("another host's VM was forgotten")
	}
}

// A VM that just started is not asked at once when its host's guests are
// known to be slow to answer: the question would come while the guest is
// still finding its disks (a 256-disk guest under TCG spent 8-10 s on it).
func TestFirstQuestionWaitsForWhatItWillCost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var g guestPolls
	g.answered("h", "old", "a", 100, 0, t0, 3*time.Second) // 30 ms per disk
	g.forget("h", map[string]bool{})
	t1 := t0.Add(time.Hour)
	cases := []struct {
		name  string
		host  string
		vm    string
		disks int
		at    time.Duration // after the VM was first seen at t1
		want  bool
	}{
		{"first sight of a 200-disk VM (6 s expected)", "h", "big", 200, 0, false},
		{"big VM, 59 s later", "h", "big", 200, 59 * time.Second, false},
		{"big VM, ten times the expected cost later", "h", "big", 200, 60 * time.Second, true},
		{"first sight of a 2-disk VM (60 ms expected)", "h", "small", 2, 0, false},
		{"small VM, 0.6 s later", "h", "small", 2, 600 * time.Millisecond, true},
		{"first sight on a host whose guests never answered", "new", "vm", 200, 0, false},
		{"that VM, ten times the first estimate later", "new", "vm", 200, 10 * 200 * firstCostPerDisk, true},
	}
	for _, c := range cases {
		if got := g.due(c.host, c.vm, "sig", c.disks, t1.Add(c.at)); got != c.want {
			t.Errorf("%s: due %v, want %v", c.name, got, c.want)
		}
	}
}

// A question that failed is asked again, but after the pause its cost
// earns: a guest whose answer timed out after 10 s spent those 10 s.
func TestFailedQuestionsArePausedAndRetried(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var g guestPolls
	g.failed("h", "vm", 256, t0, 2*time.Millisecond) // no guest agent yet
	if !g.due("h", "vm", "sig", 256, t0.Add(2*time.Second)) {
		t.Error("a guest without an agent yet is not asked at the next poll")
	}
	g.failed("h", "vm", 256, t0, 10*time.Second) // timed out
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{12 * time.Second, false}, {99 * time.Second, false}, {100 * time.Second, true}} {
		if got := g.due("h", "vm", "sig", 256, t0.Add(c.at)); got != c.want {
			t.Errorf("after a 10 s timeout, at +%v: due %v, want %v", c.at, got, c.want)
		}
	}
	// An answer ends the retries; a fast failure does not lower the
	// host's estimate, a slow one raised it.
	g.answered("h", "vm", "sig", 256, 0, t0.Add(100*time.Second), 0)
	if g.due("h", "vm", "sig", 256, t0.Add(101*time.Second)) {
		t.Error("a guest that answered is asked again with nothing changed")
	}
	g.perDisk["h"] = 10 * time.Millisecond
	g.failed("h", "vm3", 10, t0, time.Millisecond)
	if got := g.perDisk["h"]; got != 10*time.Millisecond {
		t.Errorf("a fast failure changed the estimate to %v", got)
	}
	g.failed("h", "vm3", 10, t0, time.Second)
	if got := g.perDisk["h"]; got != 100*time.Millisecond {
		t.Errorf("a 1 s failure over 10 disks left the estimate at %v, want 100ms", got)
	}
}

func TestLargeVMsAreReadLessOften(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var b readBudget
	if !b.due("vm", t0) {
		t.Fatal("a VM never read is not due")
	}
	b.spent("h", "small", t0, 5*time.Millisecond)
	b.spent("h", "large", t0, 2*time.Second)
	cases := []struct {
		vm   string
		at   time.Duration
		want bool
	}{
		{"small", 49 * time.Millisecond, false},
		{"small", 50 * time.Millisecond, true}, // every 2 s poll reads it
		{"large", 2 * time.Second, false},
		{"large", 19 * time.Second, false},
		{"large", 20 * time.Second, true}, // 10% of the time
	}
	for _, c := range cases {
		if got := b.due(c.vm, t0.Add(c.at)); got != c.want {
			t.Errorf("%s at +%v: due %v, want %v", c.vm, c.at, got, c.want)
		}
	}
	b.spent("other", "vm2", t0, time.Second)
	b.forget("h", map[string]bool{"small": true})
	if _, ok := b["large"]; ok {
		t.Error("a VM that stopped is remembered")
	}
	if _, ok := b["small"]; !ok {
		t.Error("a running VM was forgotten")
	}
	if _, ok := b["vm2"]; !ok {
		t.Error("another host's VM was forgotten")
	}
}
