package sqlstore

import (
	"context"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// byName is the order of every list by name: name, then id.
var byName = []string{"name", "id"}

var dataCenters = &table[model.DataCenter]{
	what:    "data center",
	name:    "data_centers",
	cols:    []string{"id", "name", "description", "version_major", "version_minor"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(dc model.DataCenter) []any {
		return []any{dc.ID, dc.Name, dc.Description, dc.Version.Major, dc.Version.Minor}
	},
	scan: func(s scanner) (dc model.DataCenter, err error) {
		err = s.Scan(&dc.ID, &dc.Name, &dc.Description, &dc.Version.Major, &dc.Version.Minor)
		return dc, err
	},
}

func (t *tx) GetDataCenter(ctx context.Context, id string) (model.DataCenter, error) {
	return dataCenters.get(ctx, t, id)
}

func (t *tx) ListDataCenters(ctx context.Context, o store.ListOptions) ([]model.DataCenter, error) {
	return dataCenters.listNamed(ctx, t, o)
}

func (t *tx) InsertDataCenter(ctx context.Context, dc model.DataCenter) error {
	return dataCenters.insert(ctx, t, dc)
}

func (t *tx) UpdateDataCenter(ctx context.Context, dc model.DataCenter) error {
	return dataCenters.update(ctx, t, dc)
}

func (t *tx) DeleteDataCenter(ctx context.Context, id string) error {
	return dataCenters.delete(ctx, t, id)
}
