package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/govirt/govirt/internal/store"
)

// roles maps the roles table; a role's action groups are rows of
// role_action_groups, read and written beside it.
var roles = &table[store.Role]{
	what:    "role",
	name:    "roles",
	cols:    []string{"id", "name", "description", "administrative", "read_only"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(r store.Role) []any {
		return []any{r.ID, r.Name, r.Description, r.Administrative, r.ReadOnly}
	},
	scan: func(s scanner) (r store.Role, err error) {
		err = s.Scan(&r.ID, &r.Name, &r.Description, &r.Administrative, &r.ReadOnly)
		return r, err
	},
}

func (t *tx) GetRole(ctx context.Context, id string) (store.Role, error) {
	r, err := roles.get(ctx, t, id)
	if err != nil {
		return r, err
	}
	return t.withGroups(ctx, r)
}

func (t *tx) GetRoleByName(ctx context.Context, name string) (store.Role, error) {
	r, err := getWhere(ctx, t, roles, name, "name = ?", name)
	if err != nil {
		return r, err
	}
	return t.withGroups(ctx, r)
}

// ListRoles reads the roles, then every role's action groups in one query:
// two statements whatever the number of roles.
func (t *tx) ListRoles(ctx context.Context, o store.ListOptions) ([]store.Role, error) {
	list, err := roles.listNamed(ctx, t, o)
	if err != nil || len(list) == 0 {
		return list, err
	}
	groups := make(map[string][]int, len(list))
	err = t.queryRows(ctx, func(s scanner) error {
		var id string
		var g int
		if err := s.Scan(&id, &g); err != nil {
			return err
		}
		groups[id] = append(groups[id], g)
		return nil
	}, "SELECT role_id, action_group FROM role_action_groups ORDER BY action_group")
	if err != nil {
		return nil, fmt.Errorf("list role action groups: %w", err)
	}
	for i := range list {
		list[i].ActionGroups = nonNil(groups[list[i].ID])
	}
	return list, nil
}

// InsertRole inserts the role and its action groups.
func (t *tx) InsertRole(ctx context.Context, r store.Role) error {
	if err := roles.insert(ctx, t, r); err != nil {
		return err
	}
	return t.insertGroups(ctx, r)
}

// UpdateRole writes the role and replaces its action groups.
func (t *tx) UpdateRole(ctx context.Context, r store.Role) error {
	if err := roles.update(ctx, t, r); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "DELETE FROM role_action_groups WHERE role_id = ?", r.ID); err != nil {
		return fmt.Errorf("update role %s: %w", r.ID, err)
	}
	return t.insertGroups(ctx, r)
}

// DeleteRole deletes the role, its action groups and every permission
// granting it (ON DELETE CASCADE).
func (t *tx) DeleteRole(ctx context.Context, id string) error {
	return roles.delete(ctx, t, id)
}

func (t *tx) withGroups(ctx context.Context, r store.Role) (store.Role, error) {
	r.ActionGroups = []int{}
	err := t.queryRows(ctx, func(s scanner) error {
		var g int
		if err := s.Scan(&g); err != nil {
			return err
		}
		r.ActionGroups = append(r.ActionGroups, g)
		return nil
	}, "SELECT action_group FROM role_action_groups WHERE role_id = ? ORDER BY action_group", r.ID)
	if err != nil {
		return store.Role{}, fmt.Errorf("get role %s: action groups: %w", r.ID, err)
	}
	return r, nil
}

// insertGroups writes the role's action groups as a set: a duplicate is
// written once rather than refused, since a role holds a group or not.
func (t *tx) insertGroups(ctx context.Context, r store.Role) error {
	groups := slices.Clone(r.ActionGroups)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	for _, g := range groups {
		if _, err := t.exec(ctx, "INSERT INTO role_action_groups (role_id, action_group) VALUES (?, ?)", r.ID, g); err != nil {
			return fmt.Errorf("insert role %s: action group %d: %w", r.ID, g, err)
		}
	}
	return nil
}

// nonNil returns s, or an empty slice for nil, so that an empty list
// encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
