package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// insertNamed runs an insert and turns a unique-name conflict into the
// user-facing fault.
func insertNamed(err error, action apperr.Action, typ apperr.Type, name string) error {
	if errors.Is(err, store.ErrConflict) {
		return apperr.New(apperr.NameAlreadyUsed, action, typ, "name", name)
	}
	return err
}

// AddDataCenter creates a data center.
func (e *Engine) AddDataCenter(ctx context.Context, dc model.DataCenter) (model.DataCenter, error) {
	const action, typ = apperr.ActionAdd, apperr.TypeDataCenter
	dc.ID = e.newID()
	if dc.Version == (model.Version{}) {
		dc.Version = model.Version48
	}
	if err := validateName(action, typ, dc.Name); err != nil {
		return dc, err
	}
	if !dc.Version.Supported() {
		return dc, apperr.New(apperr.ClusterLevelUnsupported, action, typ, "version", dc.Version.String())
	}
	return dc, e.st.Tx(ctx, func(tx store.Tx) error {
		if err := insertNamed(tx.InsertDataCenter(ctx, dc), action, typ, dc.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_STORAGE_POOL",
			Message: fmt.Sprintf("Data Center %s was added by %s.", dc.Name, Caller(ctx))})
	})
}

// AddCluster creates a cluster in a data center.
func (e *Engine) AddCluster(ctx context.Context, c model.Cluster) (model.Cluster, error) {
	const action, typ = apperr.ActionAdd, apperr.TypeCluster
	c.ID = e.newID()
	if c.Version == (model.Version{}) {
		c.Version = model.Version48
	}
	if err := validateName(action, typ, c.Name); err != nil {
		return c, err
	}
	if !c.Version.Supported() {
		return c, apperr.New(apperr.ClusterLevelUnsupported, action, typ, "version", c.Version.String())
	}
	return c, e.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetDataCenter(ctx, c.DataCenterID); err != nil {
			return mapNotFound(err, action, apperr.TypeDataCenter, c.DataCenterID)
		}
		if err := insertNamed(tx.InsertCluster(ctx, c), action, typ, c.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_CLUSTER",
			Message: fmt.Sprintf("Cluster %s was added by %s.", c.Name, Caller(ctx))})
	})
}

// UpdateCluster renames a cluster or changes its level. Lowering the level
// below 3.3 is refused while its VMs have VirtIO-SCSI.
func (e *Engine) UpdateCluster(ctx context.Context, c model.Cluster) (model.Cluster, error) {
	const action, typ = apperr.ActionUpdate, apperr.TypeCluster
	if err := validateName(action, typ, c.Name); err != nil {
		return c, err
	}
	if !c.Version.Supported() {
		return c, apperr.New(apperr.ClusterLevelUnsupported, action, typ, "version", c.Version.String())
	}
	return c, e.st.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.GetCluster(ctx, c.ID)
		if err != nil {
			return mapNotFound(err, action, typ, c.ID)
		}
		c.DataCenterID = old.DataCenterID
		if c.Version.Less(model.Version33) && !old.Version.Less(model.Version33) {
			if err := e.noVirtIOSCSIIn(ctx, tx, c.ID); err != nil {
				return err
			}
		}
		if err := insertNamed(tx.UpdateCluster(ctx, c), action, typ, c.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_CLUSTER",
			Message: fmt.Sprintf("Cluster %s was updated by %s.", c.Name, Caller(ctx))})
	})
}

func (e *Engine) noVirtIOSCSIIn(ctx context.Context, tx store.Tx, clusterID string) error {
	vms, err := tx.ListVMs(ctx, store.ListOptions{})
	if err != nil {
		return err
	}
	for _, vm := range vms {
		if vm.ClusterID != clusterID {
			continue
		}
		devs, err := tx.ListDevicesOfVM(ctx, vm.ID)
		if err != nil {
			return err
		}
		for _, d := range devs {
			if d.Device == model.DeviceVirtioSCSI {
				return apperr.New(apperr.VirtIOSCSINotForClusterLevel, apperr.ActionUpdate, apperr.TypeCluster)
			}
		}
	}
	return nil
}

// AddStorageDomain registers a file storage domain: a directory that every
// host of the data center has.
func (e *Engine) AddStorageDomain(ctx context.Context, sd model.StorageDomain) (model.StorageDomain, error) {
	const action, typ = apperr.ActionAdd, apperr.TypeStorageDomain
	sd.ID = e.newID()
	if err := validateName(action, typ, sd.Name); err != nil {
		return sd, err
	}
	if !filepath.IsAbs(sd.Path) || filepath.Clean(sd.Path) != sd.Path || sd.Path == "/" {
		return sd, badParam(action, typ, "The storage domain path must be an absolute, clean directory other than /.")
	}
	return sd, e.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetDataCenter(ctx, sd.DataCenterID); err != nil {
			return mapNotFound(err, action, apperr.TypeDataCenter, sd.DataCenterID)
		}
		if err := insertNamed(tx.InsertStorageDomain(ctx, sd), action, typ, sd.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_STORAGE_DOMAIN",
			Message: fmt.Sprintf("Storage Domain %s was added by %s.", sd.Name, Caller(ctx))})
	})
}

// AddHost registers a host and its agent address. Its status starts as
// given (the local host is up at once; remote hosts start connecting).
func (e *Engine) AddHost(ctx context.Context, h model.Host) (model.Host, error) {
	const action, typ = apperr.ActionAdd, apperr.TypeHost
	if h.ID == "" {
		h.ID = e.newID()
	}
	if h.Status == "" {
		h.Status = model.HostConnecting
	}
	if err := validateName(action, typ, h.Name); err != nil {
		return h, err
	}
	if h.Address == "" {
		return h, badParam(action, typ, "A host needs the address of its agent.")
	}
	return h, e.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(ctx, h.ClusterID); err != nil {
			return mapNotFound(err, action, apperr.TypeCluster, h.ClusterID)
		}
		if err := insertNamed(tx.InsertHost(ctx, h), action, typ, h.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_VDS", HostID: h.ID,
			Message: fmt.Sprintf("Host %s was added by %s.", h.Name, Caller(ctx))})
	})
}

// EnrollHost adds the host whose agent listens at h.Address: it checks the
// name and cluster, enrols the agent with its bootstrap secret (or, without
// one, checks that the agent already trusts this engine), and registers it
// under the agent's own id, up. Nothing is stored when any step fails.
func (e *Engine) EnrollHost(ctx context.Context, h model.Host, secret string) (model.Host, error) {
	const action, typ = apperr.ActionAdd, apperr.TypeHost
	if e.enroller == nil {
		return e.AddHost(ctx, h)
	}
	if err := validateName(action, typ, h.Name); err != nil {
		return h, err
	}
	if h.Address == "" {
		return h, badParam(action, typ, "A host needs the address of its agent.")
	}
	err := e.st.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(ctx, h.ClusterID); err != nil {
			return mapNotFound(err, action, apperr.TypeCluster, h.ClusterID)
		}
		hosts, err := tx.ListHosts(ctx, store.ListOptions{})
		for _, o := range hosts {
			if o.Name == h.Name {
				return apperr.New(apperr.NameAlreadyUsed, action, typ, "name", h.Name)
			}
			if o.Address == h.Address {
				return apperr.New(apperr.HostAlreadyAdded, action, typ, "address", h.Address, "name", o.Name)
			}
		}
		return err
	})
	if err != nil {
		return h, err
	}
	id, err := e.enroller.Enroll(ctx, h.Address, secret)
	switch {
	case errors.Is(err, ErrBadSecret):
		return h, apperr.New(apperr.HostSecretMismatch, action, typ)
	case err != nil:
		return h, apperr.New(apperr.HostUnreachable, action, typ, "address", h.Address, "detail", err.Error())
	}
	h.ID, h.Status = id, model.HostUp
	err = e.st.View(ctx, func(tx store.Tx) error {
		if o, err := tx.GetHost(ctx, id); err == nil {
			return apperr.New(apperr.HostAlreadyAdded, action, typ, "address", h.Address, "name", o.Name)
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	return e.AddHost(ctx, h)
}

// SetHostStatus records a host's status, as heartbeats and enrolment see it.
func (e *Engine) SetHostStatus(ctx context.Context, id string, st model.HostStatus) error {
	return e.st.Tx(ctx, func(tx store.Tx) error {
		h, err := tx.GetHost(ctx, id)
		if err != nil {
			return mapNotFound(err, apperr.ActionUpdate, apperr.TypeHost, id)
		}
		if h.Status == st {
			return nil
		}
		h.Status = st
		if err := tx.UpdateHost(ctx, h); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "VDS_STATUS_CHANGED", HostID: id,
			Message: fmt.Sprintf("Status of host %s was set to %s.", h.Name, st)})
	})
}

// RemoveHost unregisters a host that runs no VM.
func (e *Engine) RemoveHost(ctx context.Context, id string) error {
	const action, typ = apperr.ActionRemove, apperr.TypeHost
	return e.st.Tx(ctx, func(tx store.Tx) error {
		h, err := tx.GetHost(ctx, id)
		if err != nil {
			return mapNotFound(err, action, typ, id)
		}
		vms, err := tx.ListVMs(ctx, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, vm := range vms {
			// A VM migrating to the host already runs there in part.
			if (vm.HostID == id || vm.MigratingTo == id) && !vm.Status.IsDown() {
				return apperr.New(apperr.HostHasRunningVMs, action, typ)
			}
		}
		if err := deleteWithPermissions(ctx, tx, store.ObjectHost, id, tx.DeleteHost); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_REMOVE_VDS",
			Message: fmt.Sprintf("Host %s was removed by %s.", h.Name, Caller(ctx))})
	})
}

// removeEmpty deletes an object whose children the database guards with
// foreign keys; a refusal becomes the "not empty" fault.
func removeEmpty(err error, id, key string, action apperr.Action, typ apperr.Type, what string) error {
	if errors.Is(err, store.ErrReferenced) {
		if key == apperr.StorageDomainNotEmpty {
			return apperr.New(key, action, typ)
		}
		return apperr.New(key, action, typ, "what", what)
	}
	return mapNotFound(err, action, typ, id)
}

// RemoveDataCenter deletes an empty data center.
func (e *Engine) RemoveDataCenter(ctx context.Context, id string) error {
	return e.st.Tx(ctx, func(tx store.Tx) error {
		return removeEmpty(deleteWithPermissions(ctx, tx, store.ObjectDataCenter, id, tx.DeleteDataCenter), id, apperr.DataCenterNotEmpty, apperr.ActionRemove, apperr.TypeDataCenter, "clusters or storage domains")
	})
}

// RemoveCluster deletes a cluster without hosts or VMs.
func (e *Engine) RemoveCluster(ctx context.Context, id string) error {
	return e.st.Tx(ctx, func(tx store.Tx) error {
		return removeEmpty(deleteWithPermissions(ctx, tx, store.ObjectCluster, id, tx.DeleteCluster), id, apperr.ClusterNotEmpty, apperr.ActionRemove, apperr.TypeCluster, "hosts or VMs")
	})
}

// RemoveStorageDomain deletes a storage domain that holds no disk.
func (e *Engine) RemoveStorageDomain(ctx context.Context, id string) error {
	return e.st.Tx(ctx, func(tx store.Tx) error {
		return removeEmpty(deleteWithPermissions(ctx, tx, store.ObjectStorageDomain, id, tx.DeleteStorageDomain), id, apperr.StorageDomainNotEmpty, apperr.ActionRemove, apperr.TypeStorageDomain, "")
	})
}
