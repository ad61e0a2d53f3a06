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
	if !g.due("vm", "a", t0) {
		t.Fatal("a VM never asked is not due")
	}
	g.answered("h", "vm", "a", 0, t0, 0)
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
		if got := g.due("vm", c.live, c.at); got != c.want {
			t.Errorf("%s: due %v, want %v", c.name, got, c.want)
		}
	}
	g.answered("h", "vm", "a,b", 1, t0, 0)
	if !g.due("vm", "a,b", t0.Add(time.Second)) {
		t.Error("a VM with a disk the guest does not show yet is not asked again")
	}
	// A guest that took 3 s to answer is left alone for 30 s, even with
	// disks to name or a disk that came.
	g.answered("h", "slow", "a", 5, t0, 3*time.Second)
	for _, c := range []struct {
		live string
		at   time.Duration
		want bool
	}{{"a", 4 * time.Second, false}, {"a,b", 29 * time.Second, false}, {"a", 30 * time.Second, true}} {
		if got := g.due("slow", c.live, t0.Add(c.at)); got != c.want {
			t.Errorf("slow guest, live %q at +%v: due %v, want %v", c.live, c.at, got, c.want)
		}
	}
	g.answered("other", "vm2", "x", 0, t0, 0)
	g.forget("h", map[string]bool{})
	if _, ok := g["vm"]; ok {
		t.Error("a VM that stopped is remembered")
	}
	if _, ok := g["vm2"]; !ok {
		t.Error("another host's VM was forgotten")
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
