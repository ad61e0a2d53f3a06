package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/store"
)

var permissions = &table[store.Permission]{
	what:  "permission",
	name:  "permissions",
	cols:  []string{"id", "user_id", "role_id", "object_type", "object_id"},
	nkeys: 1,
	// The grant key, which is unique, makes the order total.
	order: []string{"object_type", "object_id", "user_id", "role_id"},
	values: func(p store.Permission) []any {
		return []any{p.ID, p.UserID, p.RoleID, string(p.ObjectType), p.ObjectID}
	},
	scan: func(s scanner) (p store.Permission, err error) {
		err = s.Scan(&p.ID, &p.UserID, &p.RoleID, &p.ObjectType, &p.ObjectID)
		return p, err
	},
}

func (t *tx) GetPermission(ctx context.Context, id string) (store.Permission, error) {
	return permissions.get(ctx, t, id)
}

func (t *tx) ListPermissions(ctx context.Context, f store.PermissionFilter) ([]store.Permission, error) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"user_id", f.UserID}, {"role_id", f.RoleID},
		{"object_type", string(f.ObjectType)}, {"object_id", f.ObjectID},
	} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	return permissions.list(ctx, t, strings.Join(conds, " AND "), 0, args...)
}

func (t *tx) InsertPermission(ctx context.Context, p store.Permission) error {
	return permissions.insert(ctx, t, p)
}

func (t *tx) DeletePermission(ctx context.Context, id string) error {
	return permissions.delete(ctx, t, id)
}

func (t *tx) DeletePermissionsOnObject(ctx context.Context, typ store.ObjectType, id string) (int64, error) {
	n, err := t.deleteCount(ctx, "DELETE FROM permissions WHERE object_type = ? AND object_id = ?", string(typ), id)
	if err != nil {
		return 0, fmt.Errorf("delete permissions on %s %s: %w", typ, id, err)
	}
	return n, nil
}

// deleteCount runs a DELETE that may remove any number of rows and returns
// how many it removed.
func (t *tx) deleteCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.fail(err)
	}
	return n, nil
}
