package sqlstore

import (
	"context"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

var clusters = &table[model.Cluster]{
	what:    "cluster",
	name:    "clusters",
	cols:    []string{"id", "name", "description", "data_center_id", "version_major", "version_minor"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(c model.Cluster) []any {
		return []any{c.ID, c.Name, c.Description, c.DataCenterID, c.Version.Major, c.Version.Minor}
	},
	scan: func(s scanner) (c model.Cluster, err error) {
		err = s.Scan(&c.ID, &c.Name, &c.Description, &c.DataCenterID, &c.Version.Major, &c.Version.Minor)
		return c, err
	},
}

func (t *tx) GetCluster(ctx context.Context, id string) (model.Cluster, error) {
	return clusters.get(ctx, t, id)
}

func (t *tx) ListClusters(ctx context.Context, o store.ListOptions) ([]model.Cluster, error) {
	return clusters.listNamed(ctx, t, o)
}

func (t *tx) InsertCluster(ctx context.Context, c model.Cluster) error {
	return clusters.insert(ctx, t, c)
}

func (t *tx) UpdateCluster(ctx context.Context, c model.Cluster) error {
	return clusters.update(ctx, t, c)
}

func (t *tx) DeleteCluster(ctx context.Context, id string) error {
	return clusters.delete(ctx, t, id)
}
