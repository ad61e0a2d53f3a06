// Package localhost sets up govirt's single-machine default: an agent for
// this machine run inside the engine, registered as host "local" in data
// center and cluster "Default" (level 4.8), with a storage domain "local"
// under the engine's state directory. It is what `govirt engine
// --local-host` does on every start; the first start creates the objects.
package localhost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agentserver"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// Names of the objects the local setup creates.
const (
	DefaultName = "Default"
	HostName    = "local"
	DomainName  = "local"
)

// Config of the local host.
type Config struct {
	StateDir      string
	VirtType      vmspec.VirtType
	LibvirtSocket string
	// MigrationURI is how other hosts' libvirtd reach this one's in a live
	// migration (agent.Config.MigrationURI).
	MigrationURI string
	// MigrationTrustStorage: agent.Config.MigrationTrustStorage.
	MigrationTrustStorage bool
	// MaxColdDisks is the local agent's agent.Config.MaxColdDisks.
	MaxColdDisks int
	// LUNEnforcer is the local agent's agent.Config.LUNEnforcer.
	LUNEnforcer string
	// GuardPorts is the local agent's agent.Config.GuardPorts.
	GuardPorts [2]uint16
}

// Start runs the local agent and makes sure the engine knows it: data
// center, cluster, host and storage domain exist and the host is up.
func Start(ctx context.Context, eng *engine.Engine, st store.Store, cfg Config, log *slog.Logger) (*agentserver.Running, error) {
	hostID, err := localHostID(ctx, st)
	if err != nil {
		return nil, err
	}
	agentDir := filepath.Join(cfg.StateDir, "agent")
	sock := filepath.Join(cfg.StateDir, "run", "agent.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, err
	}
	r, err := agentserver.Start(ctx, agentserver.Config{
		Agent:  agent.Config{HostID: hostID, VirtType: cfg.VirtType, StateDir: agentDir, MigrationURI: cfg.MigrationURI, MigrationTrustStorage: cfg.MigrationTrustStorage, MaxColdDisks: cfg.MaxColdDisks, LUNEnforcer: cfg.LUNEnforcer, GuardPorts: cfg.GuardPorts},
		Listen: "unix:" + sock, LibvirtSocket: cfg.LibvirtSocket,
	}, log)
	if err != nil {
		return nil, err
	}
	if err := ensureObjects(ctx, eng, st, cfg, hostID, "unix://"+sock); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// localHostID is the id of host "local", or a new one for the first start.
func localHostID(ctx context.Context, st store.Store) (string, error) {
	var id string
	err := st.View(ctx, func(tx store.Tx) error {
		hosts, err := tx.ListHosts(ctx, store.ListOptions{Name: HostName})
		for _, h := range hosts {
			if h.Name == HostName {
				id = h.ID
			}
		}
		return err
	})
	if id == "" {
		id = uuid.NewString()
	}
	return id, err
}

func ensureObjects(ctx context.Context, eng *engine.Engine, st store.Store, cfg Config, hostID, addr string) error {
	var dc model.DataCenter
	var cl model.Cluster
	var host *model.Host
	var haveSD bool
	err := st.View(ctx, func(tx store.Tx) error {
		dcs, err := tx.ListDataCenters(ctx, store.ListOptions{Name: DefaultName})
		for _, d := range dcs {
			if d.Name == DefaultName {
				dc = d
			}
		}
		if err != nil {
			return err
		}
		cls, err := tx.ListClusters(ctx, store.ListOptions{Name: DefaultName})
		for _, c := range cls {
			if c.Name == DefaultName {
				cl = c
			}
		}
		if err != nil {
			return err
		}
		if h, err := tx.GetHost(ctx, hostID); err == nil {
			host = &h
		}
		sds, err := tx.ListStorageDomains(ctx, store.ListOptions{Name: DomainName})
		haveSD = len(sds) > 0
		return err
	})
	if err != nil {
		return err
	}
	if dc.ID == "" {
		if dc, err = eng.AddDataCenter(ctx, model.DataCenter{Name: DefaultName, Description: "The default Data Center", Version: model.Version48}); err != nil {
			return fmt.Errorf("create data center Default: %w", err)
		}
	}
	if cl.ID == "" {
		if cl, err = eng.AddCluster(ctx, model.Cluster{Name: DefaultName, Description: "The default server cluster", DataCenterID: dc.ID, Version: model.Version48}); err != nil {
			return fmt.Errorf("create cluster Default: %w", err)
		}
	}
	if host == nil {
		if _, err := eng.AddHost(ctx, model.Host{ID: hostID, Name: HostName, Address: addr, ClusterID: cl.ID, Status: model.HostUp}); err != nil {
			return fmt.Errorf("create host local: %w", err)
		}
	} else if host.Address != addr {
		h := *host
		h.Address = addr
		if _, err := eng.UpdateHost(ctx, h); err != nil {
			return err
		}
	}
	if err := eng.SetHostStatus(ctx, hostID, model.HostUp); err != nil {
		return err
	}
	if !haveSD {
		dir := filepath.Join(cfg.StateDir, "storage", DomainName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// QEMU runs as libvirt-qemu and must reach the images.
		for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
			if p == cfg.StateDir {
				break
			}
		}
		if _, err := eng.AddStorageDomain(ctx, model.StorageDomain{Name: DomainName, Description: "Images on this machine", DataCenterID: dc.ID, Path: dir}); err != nil {
			return fmt.Errorf("create storage domain local: %w", err)
		}
	}
	return nil
}
