package engine

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// UpdateDataCenter renames a data center or changes its description or level.
func (e *Engine) UpdateDataCenter(ctx context.Context, dc model.DataCenter) (model.DataCenter, error) {
	const action, typ = apperr.ActionUpdate, apperr.TypeDataCenter
	if err := validateName(action, typ, dc.Name); err != nil {
		return dc, err
	}
	if !dc.Version.Supported() {
		return dc, apperr.New(apperr.ClusterLevelUnsupported, action, typ, "version", dc.Version.String())
	}
	return dc, e.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetDataCenter(ctx, dc.ID); err != nil {
			return mapNotFound(err, action, typ, dc.ID)
		}
		if err := insertNamed(tx.UpdateDataCenter(ctx, dc), action, typ, dc.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_STORAGE_POOL",
			Message: fmt.Sprintf("Data Center %s was updated by %s.", dc.Name, Caller(ctx))})
	})
}

// UpdateStorageDomain renames a storage domain; its path and data center
// stay, since disks live there.
func (e *Engine) UpdateStorageDomain(ctx context.Context, sd model.StorageDomain) (model.StorageDomain, error) {
	const action, typ = apperr.ActionUpdate, apperr.TypeStorageDomain
	if err := validateName(action, typ, sd.Name); err != nil {
		return sd, err
	}
	return sd, e.st.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.GetStorageDomain(ctx, sd.ID)
		if err != nil {
			return mapNotFound(err, action, typ, sd.ID)
		}
		sd.Path, sd.DataCenterID = old.Path, old.DataCenterID
		if err := insertNamed(tx.UpdateStorageDomain(ctx, sd), action, typ, sd.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_STORAGE_DOMAIN",
			Message: fmt.Sprintf("Storage Domain %s was updated by %s.", sd.Name, Caller(ctx))})
	})
}

// UpdateHost renames a host or changes its agent address; status is the
// monitor's, set through SetHostStatus.
func (e *Engine) UpdateHost(ctx context.Context, h model.Host) (model.Host, error) {
	const action, typ = apperr.ActionUpdate, apperr.TypeHost
	if err := validateName(action, typ, h.Name); err != nil {
		return h, err
	}
	if h.Address == "" {
		return h, badParam(action, typ, "A host needs the address of its agent.")
	}
	return h, e.st.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.GetHost(ctx, h.ID)
		if err != nil {
			return mapNotFound(err, action, typ, h.ID)
		}
		h.Status, h.ClusterID = old.Status, old.ClusterID
		if err := insertNamed(tx.UpdateHost(ctx, h), action, typ, h.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_VDS", HostID: h.ID,
			Message: fmt.Sprintf("Host %s configuration was updated by %s.", h.Name, Caller(ctx))})
	})
}
