package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// disks keeps a LUN's fields in lun_* columns; lun_id is NULL for image
// disks, and tells on reading whether Disk.LUN is set.
var disks = &table[model.Disk]{
	what: "disk",
	name: "disks",
	cols: []string{"id", "alias", "description", "storage_type", "format", "provisioned_size",
		"storage_domain_id", "status", "lun_id", "lun_address", "lun_port", "lun_target",
		"lun_mapping", "lun_serial", "lun_vendor", "lun_product", "lun_size",
		"shareable", "sgio", "propagate_errors", "created_at", "scsi_policy"},
	nkeys:   1,
	nameCol: "alias",
	order:   []string{"alias", "id"},
	values: func(d model.Disk) []any {
		var lunID any
		lun := model.ISCSILun{}
		if d.LUN != nil {
			lun, lunID = *d.LUN, d.LUN.LunID
		}
		return []any{d.ID, d.Alias, d.Description, string(d.StorageType), string(d.Format), d.ProvisionedSize,
			nullIfEmpty(d.StorageDomainID), string(d.Status), lunID, lun.Address, lun.Port, lun.Target,
			lun.LunMapping, lun.Serial, lun.Vendor, lun.Product, lun.Size,
			d.Shareable, string(d.SGIO), d.PropagateErrors, micros(d.CreatedAt), d.SCSIPolicy}
	},
	scan: func(s scanner) (d model.Disk, err error) {
		var sd, lunID sql.NullString
		var lun model.ISCSILun
		var created int64
		err = s.Scan(&d.ID, &d.Alias, &d.Description, &d.StorageType, &d.Format, &d.ProvisionedSize,
			&sd, &d.Status, &lunID, &lun.Address, &lun.Port, &lun.Target,
			&lun.LunMapping, &lun.Serial, &lun.Vendor, &lun.Product, &lun.Size,
			&d.Shareable, &d.SGIO, &d.PropagateErrors, &created, &d.SCSIPolicy)
		d.StorageDomainID, d.CreatedAt = sd.String, fromMicros(created)
		if lunID.Valid {
			lun.LunID = lunID.String
			d.LUN = &lun
		}
		return d, err
	},
}

func (t *tx) GetDisk(ctx context.Context, id string) (model.Disk, error) {
	return disks.get(ctx, t, id)
}

// disksOfVM joins a VM's attachments to their disks, in the attachments'
// primary key order (disk ids byte-wise on both databases).
var disksOfVM = "SELECT " + disks.columnsOf("d") +
	" FROM disk_attachments a JOIN disks d ON d.id = a.disk_id WHERE a.vm_id = ? ORDER BY "

// ListDisksOfVM lists the disks attached to a VM by disk id.
func (t *tx) ListDisksOfVM(ctx context.Context, vmID string) ([]model.Disk, error) {
	out, err := disks.query(ctx, t, disksOfVM+t.d.orderBy("a.vm_id", "a.disk_id"), vmID)
	if err != nil {
		return nil, fmt.Errorf("list disks of vm %s: %w", vmID, err)
	}
	return out, nil
}

// ListDisks matches ListOptions.Name against the disk's alias.
func (t *tx) ListDisks(ctx context.Context, o store.ListOptions) ([]model.Disk, error) {
	return disks.listNamed(ctx, t, o)
}

func (t *tx) ListDisksInStorageDomain(ctx context.Context, sdID string) ([]model.Disk, error) {
	return disks.list(ctx, t, "storage_domain_id = ?", 0, sdID)
}

func (t *tx) InsertDisk(ctx context.Context, d model.Disk) error {
	return disks.insert(ctx, t, d)
}

// UpdateDisk writes the disk; a change of Shareable cascades to its
// attachments, and making a disk attached to two VMs non-shareable fails
// with store.ErrConflict.
func (t *tx) UpdateDisk(ctx context.Context, d model.Disk) error {
	return disks.update(ctx, t, d)
}

// DeleteDisk fails with store.ErrReferenced while the disk is attached.
func (t *tx) DeleteDisk(ctx context.Context, id string) error {
	return disks.delete(ctx, t, id)
}
