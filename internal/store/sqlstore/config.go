package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/govirt/govirt/internal/store"
)

var configValues = &table[store.ConfigValue]{
	what:  "config value",
	name:  "config_values",
	cols:  []string{"name", "version", "value", "updated_at"},
	nkeys: 2,
	order: []string{"name", "version"},
	values: func(c store.ConfigValue) []any {
		return []any{c.Key, c.Version, c.Value, micros(c.Updated)}
	},
	scan: func(s scanner) (c store.ConfigValue, err error) {
		var updated int64
		err = s.Scan(&c.Key, &c.Version, &c.Value, &updated)
		c.Updated = fromMicros(updated)
		return c, err
	},
}

func (t *tx) GetConfig(ctx context.Context, key, version string) (string, error) {
	c, err := configValues.get(ctx, t, key, version)
	return c.Value, err
}

// SetConfig inserts or replaces the value and stamps it with the time.
func (t *tx) SetConfig(ctx context.Context, key, version, value string) error {
	_, err := t.exec(ctx, "INSERT INTO config_values (name, version, value, updated_at) VALUES (?, ?, ?, ?)"+
		" ON CONFLICT (name, version) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
		key, version, value, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("set config value %s/%s: %w", key, version, err)
	}
	return nil
}

// ListConfig lists every value by key, then version.
func (t *tx) ListConfig(ctx context.Context) ([]store.ConfigValue, error) {
	return configValues.list(ctx, t, "", 0)
}
