package monitor

import (
	"testing"

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
