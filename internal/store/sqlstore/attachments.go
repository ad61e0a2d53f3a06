package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// attachments leaves out disk_shareable: it is the disk's, copied in by
// InsertAttachment and kept in step by the foreign key's ON UPDATE CASCADE.
var attachments = &table[model.DiskAttachment]{
	what: "disk attachment",
	name: "disk_attachments",
	cols: []string{"vm_id", "disk_id", "interface", "bootable", "pass_discard", "read_only",
		"uses_scsi_reservation", "active", "logical_name"},
	nkeys: 2,
	// One order serves both lists: by disk for a VM, by VM for a disk.
	order: []string{"vm_id", "disk_id"},
	values: func(a model.DiskAttachment) []any {
		return []any{a.VMID, a.DiskID, string(a.Interface), a.Bootable, a.PassDiscard, a.ReadOnly,
			a.UsesSCSIReservation, a.Active, a.LogicalName}
	},
	scan: func(s scanner) (a model.DiskAttachment, err error) {
		err = s.Scan(&a.VMID, &a.DiskID, &a.Interface, &a.Bootable, &a.PassDiscard, &a.ReadOnly,
			&a.UsesSCSIReservation, &a.Active, &a.LogicalName)
		return a, err
	},
}

func (t *tx) GetAttachment(ctx context.Context, vmID, diskID string) (model.DiskAttachment, error) {
	return attachments.get(ctx, t, vmID, diskID)
}

// ListAttachmentsOfVM lists the VM's attachments by disk id.
func (t *tx) ListAttachmentsOfVM(ctx context.Context, vmID string) ([]model.DiskAttachment, error) {
	return attachments.list(ctx, t, "vm_id = ?", 0, vmID)
}

// ListAttachmentsOfDisk lists the disk's attachments by VM id.
func (t *tx) ListAttachmentsOfDisk(ctx context.Context, diskID string) ([]model.DiskAttachment, error) {
	return attachments.list(ctx, t, "disk_id = ?", 0, diskID)
}

// InsertAttachment fails with store.ErrConflict when the VM already has the
// disk or the disk is not shareable and attached elsewhere, and with
// store.ErrReferenced when the VM or the disk does not exist.
func (t *tx) InsertAttachment(ctx context.Context, a model.DiskAttachment) error {
	var shareable bool
	err := t.queryRow(ctx, func(s scanner) error { return s.Scan(&shareable) },
		"SELECT shareable FROM disks WHERE id = ?", a.DiskID)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("no disk %s: %w", a.DiskID, store.ErrReferenced)
	}
	if err != nil {
		return fmt.Errorf("insert disk attachment %s/%s: %w", a.VMID, a.DiskID, err)
	}
	// Should the disk's shareable flag change before this insert, the
	// composite foreign key refuses it.
	return attachments.insertWith(ctx, t, a, []string{"disk_shareable"}, []any{shareable})
}

func (t *tx) UpdateAttachment(ctx context.Context, a model.DiskAttachment) error {
	return attachments.update(ctx, t, a)
}

func (t *tx) DeleteAttachment(ctx context.Context, vmID, diskID string) error {
	return attachments.delete(ctx, t, vmID, diskID)
}
