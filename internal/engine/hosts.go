package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// upHosts returns the up hosts of the clusters matching keep, by name.
func upHosts(ctx context.Context, tx store.Tx, keep func(model.Cluster) bool) ([]model.Host, error) {
	hosts, err := tx.ListHosts(ctx, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []model.Host
	for _, h := range hosts {
		if h.Status != model.HostUp {
			continue
		}
		c, err := tx.GetCluster(ctx, h.ClusterID)
		if err != nil {
			return nil, err
		}
		if keep(c) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// hostForDataCenter returns an agent on an up host of the data center, for
// storage work on its domains.
func (e *Engine) hostForDataCenter(ctx context.Context, dcID string) (Host, error) {
	var hosts []model.Host
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		hosts, err = upHosts(ctx, tx, func(c model.Cluster) bool { return c.DataCenterID == dcID })
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 || e.hosts == nil {
		return nil, apperr.New(apperr.NoUpHost, apperr.ActionAdd, apperr.TypeDisk)
	}
	return e.hosts.Host(ctx, hosts[0].ID)
}

func volumeOf(d model.Disk, sd model.StorageDomain) agent.Volume {
	f := vmspec.FormatQCOW2
	if d.Format == model.FormatRaw {
		f = vmspec.FormatRaw
	}
	return agent.Volume{DomainDir: sd.Path, VolumeID: d.ID, Format: f, SizeBytes: uint64(d.ProvisionedSize)}
}

// removeVolume deletes a removed disk's image. The disk is already gone from
// the database, so a failure only leaves an orphan file, which is logged.
func (e *Engine) removeVolume(ctx context.Context, d model.Disk, sd model.StorageDomain) {
	h, err := e.hostForDataCenter(ctx, sd.DataCenterID)
	if err == nil {
		err = h.RemoveVolume(ctx, volumeOf(d, sd))
	}
	if err != nil {
		e.log.Warn("volume of a removed disk left behind", "disk", d.ID, "domain", sd.Path, "err", err)
	}
}

func (e *Engine) removeVolumes(ctx context.Context, disks []model.Disk) {
	for _, d := range disks {
		var sd model.StorageDomain
		err := e.st.View(ctx, func(tx store.Tx) error {
			var err error
			sd, err = tx.GetStorageDomain(ctx, d.StorageDomainID)
			return err
		})
		if err != nil {
			e.log.Warn("volume of a removed disk left behind", "disk", d.ID, "err", fmt.Errorf("storage domain: %w", err))
			continue
		}
		e.removeVolume(ctx, d, sd)
	}
}
