package sqlstore

import (
	"context"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

var hosts = &table[model.Host]{
	what:    "host",
	name:    "hosts",
	cols:    []string{"id", "name", "address", "cluster_id", "status"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(h model.Host) []any {
		return []any{h.ID, h.Name, h.Address, h.ClusterID, string(h.Status)}
	},
	scan: func(s scanner) (h model.Host, err error) {
		err = s.Scan(&h.ID, &h.Name, &h.Address, &h.ClusterID, &h.Status)
		return h, err
	},
}

func (t *tx) GetHost(ctx context.Context, id string) (model.Host, error) {
	return hosts.get(ctx, t, id)
}

func (t *tx) ListHosts(ctx context.Context, o store.ListOptions) ([]model.Host, error) {
	return hosts.listNamed(ctx, t, o)
}

func (t *tx) InsertHost(ctx context.Context, h model.Host) error {
	return hosts.insert(ctx, t, h)
}

func (t *tx) UpdateHost(ctx context.Context, h model.Host) error {
	return hosts.update(ctx, t, h)
}

func (t *tx) DeleteHost(ctx context.Context, id string) error {
	return hosts.delete(ctx, t, id)
}
