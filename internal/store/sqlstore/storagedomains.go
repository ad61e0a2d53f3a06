package sqlstore

import (
	"context"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

var storageDomains = &table[model.StorageDomain]{
	what:    "storage domain",
	name:    "storage_domains",
	cols:    []string{"id", "name", "description", "data_center_id", "path"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(sd model.StorageDomain) []any {
		return []any{sd.ID, sd.Name, sd.Description, sd.DataCenterID, sd.Path}
	},
	scan: func(s scanner) (sd model.StorageDomain, err error) {
		err = s.Scan(&sd.ID, &sd.Name, &sd.Description, &sd.DataCenterID, &sd.Path)
		return sd, err
	},
}

func (t *tx) GetStorageDomain(ctx context.Context, id string) (model.StorageDomain, error) {
	return storageDomains.get(ctx, t, id)
}

func (t *tx) ListStorageDomains(ctx context.Context, o store.ListOptions) ([]model.StorageDomain, error) {
	return storageDomains.listNamed(ctx, t, o)
}

func (t *tx) InsertStorageDomain(ctx context.Context, sd model.StorageDomain) error {
	return storageDomains.insert(ctx, t, sd)
}

func (t *tx) UpdateStorageDomain(ctx context.Context, sd model.StorageDomain) error {
	return storageDomains.update(ctx, t, sd)
}

func (t *tx) DeleteStorageDomain(ctx context.Context, id string) error {
	return storageDomains.delete(ctx, t, id)
}
