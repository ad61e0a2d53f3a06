package engine

import (
	"context"
	"sort"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// pickHost chooses where a VM runs among the up hosts of its cluster: the
// first of the caller's preferred hosts that is up there, else the host
// running the fewest VMs (by name on a tie), so VMs spread over the cluster.
// ok is false when no candidate is left.
func pickHost(up []model.Host, preferred []string, load map[string]int) (model.Host, bool) {
	if len(preferred) > 0 {
		byID := map[string]model.Host{}
		for _, h := range up {
			byID[h.ID] = h
		}
		for _, id := range preferred {
			if h, ok := byID[id]; ok {
				return h, true
			}
		}
		return model.Host{}, false
	}
	if len(up) == 0 {
		return model.Host{}, false
	}
	c := append([]model.Host(nil), up...)
	sort.SliceStable(c, func(i, j int) bool {
		if load[c[i].ID] != load[c[j].ID] {
			return load[c[i].ID] < load[c[j].ID]
		}
		return c[i].Name < c[j].Name
	})
	return c[0], true
}

// hostLoad counts the VMs each host runs.
func hostLoad(ctx context.Context, tx store.Tx) (map[string]int, error) {
	vms, err := tx.ListVMs(ctx, store.ListOptions{})
	load := map[string]int{}
	for _, vm := range vms {
		if vm.HostID != "" && !vm.Status.IsDown() {
			load[vm.HostID]++
		}
	}
	return load, err
}

// scheduleVM picks the host for a VM of cluster, or says why none fits.
func (e *Engine) scheduleVM(ctx context.Context, tx store.Tx, clusterID string, preferred []string) (model.Host, error) {
	const action = apperr.ActionRun
	hosts, err := upHosts(ctx, tx, func(c model.Cluster) bool { return c.ID == clusterID })
	if err != nil {
		return model.Host{}, err
	}
	if e.hosts == nil {
		return model.Host{}, apperr.New(apperr.NoUpHost, action, apperr.TypeVM)
	}
	load, err := hostLoad(ctx, tx)
	if err != nil {
		return model.Host{}, err
	}
	h, ok := pickHost(hosts, preferred, load)
	if !ok && len(preferred) > 0 {
		return model.Host{}, apperr.New(apperr.CandidateHostNotUp, action, apperr.TypeVM)
	}
	if !ok {
		return model.Host{}, apperr.New(apperr.NoUpHost, action, apperr.TypeVM)
	}
	return h, nil
}
