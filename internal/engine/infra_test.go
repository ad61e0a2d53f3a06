package engine

import (
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestInfrastructureLifecycle(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		// Names are unique, levels must be known.
		_, err := v.e.AddDataCenter(v.ctx, model.DataCenter{Name: "Default"})
		wantKey(t, err, apperr.NameAlreadyUsed)
		_, err = v.e.AddCluster(v.ctx, model.Cluster{Name: "c2", DataCenterID: v.dc.ID, Version: model.Version{Major: 9, Minor: 9}})
		wantKey(t, err, apperr.ClusterLevelUnsupported)
		_, err = v.e.AddStorageDomain(v.ctx, model.StorageDomain{Name: "rel", DataCenterID: v.dc.ID, Path: "relative/path"})
		wantKey(t, err, apperr.BadParameter)

		// Objects with children cannot be removed.
		wantKey(t, v.e.RemoveDataCenter(v.ctx, v.dc.ID), apperr.DataCenterNotEmpty)
		v.vm(t, "vm1", "debian")
		wantKey(t, v.e.RemoveCluster(v.ctx, v.cluster.ID), apperr.ClusterNotEmpty)
		v.imageDisk(t, "d1")
		wantKey(t, v.e.RemoveStorageDomain(v.ctx, v.sd.ID), apperr.StorageDomainNotEmpty)

		// Updates keep what must not change.
		sd := v.sd
		sd.Name, sd.Path = "renamed", "/elsewhere"
		got, err := v.e.UpdateStorageDomain(v.ctx, sd)
		notErr(t, err)
		if got.Path != v.sd.Path {
			t.Errorf("storage domain path changed to %s", got.Path)
		}
		c := v.cluster
		c.Version = model.Version32
		_, err = v.e.UpdateCluster(v.ctx, c)
		wantKey(t, err, apperr.VirtIOSCSINotForClusterLevel)

		// An empty data center goes.
		dc, err := v.e.AddDataCenter(v.ctx, model.DataCenter{Name: "spare"})
		notErr(t, err)
		dc.Description = "x"
		_, err = v.e.UpdateDataCenter(v.ctx, dc)
		notErr(t, err)
		notErr(t, v.e.RemoveDataCenter(v.ctx, dc.ID))
	})
}

func TestRemoveHostWithRunningVM(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	vm := v.vm(t, "vm1", "debian")
	run, err := v.e.RunVM(v.ctx, vm.ID)
	notErr(t, err)
	wantKey(t, v.e.RemoveHost(v.ctx, run.HostID), apperr.HostHasRunningVMs)
}
