package sqlstore

import (
	"context"
	"fmt"

	"github.com/govirt/govirt/internal/store"
)

var users = &table[store.User]{
	what:    "user",
	name:    "users",
	cols:    []string{"id", "name", "domain", "namespace", "email", "password_hash", "created_at"},
	nkeys:   1,
	nameCol: "name",
	order:   []string{"name", "domain", "id"},
	values: func(u store.User) []any {
		return []any{u.ID, u.Name, u.Domain, u.Namespace, u.Email, u.PasswordHash, micros(u.CreatedAt)}
	},
	scan: func(s scanner) (u store.User, err error) {
		var created int64
		err = s.Scan(&u.ID, &u.Name, &u.Domain, &u.Namespace, &u.Email, &u.PasswordHash, &created)
		u.CreatedAt = fromMicros(created)
		return u, err
	},
}

// getWhere returns the one row matching where, which must select by a
// unique key; no row is store.ErrNotFound. desc names the row for errors.
func getWhere[T any](ctx context.Context, t *tx, tb *table[T], desc, where string, args ...any) (T, error) {
	rows, err := tb.list(ctx, t, where, 1, args...)
	if err == nil && len(rows) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s %s: %w", tb.what, desc, err)
	}
	return rows[0], nil
}

func (t *tx) GetUser(ctx context.Context, id string) (store.User, error) {
	return users.get(ctx, t, id)
}

func (t *tx) GetUserByName(ctx context.Context, name, domain string) (store.User, error) {
	return getWhere(ctx, t, users, name+"@"+domain, "name = ? AND domain = ?", name, domain)
}

func (t *tx) ListUsers(ctx context.Context, o store.ListOptions) ([]store.User, error) {
	return users.listNamed(ctx, t, o)
}

func (t *tx) InsertUser(ctx context.Context, u store.User) error {
	return users.insert(ctx, t, u)
}

func (t *tx) UpdateUser(ctx context.Context, u store.User) error {
	return users.update(ctx, t, u)
}

// DeleteUser deletes the user with their permissions and tokens (ON DELETE
// CASCADE).
func (t *tx) DeleteUser(ctx context.Context, id string) error {
	return users.delete(ctx, t, id)
}
