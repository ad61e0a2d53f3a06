package sqlstore_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/store"
)

// addRole inserts a custom user role named name with the given action
// groups.
func addRole(t *testing.T, s store.Store, name string, groups ...int) store.Role {
	t.Helper()
	r := store.Role{ID: "role-" + name, Name: name, Description: "role " + name, ActionGroups: groups}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRole(ctx, r) })
	return r
}

func TestRoleRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		v := store.Role{
			ID: "role-x", Name: "SgioAdmin", Description: "d", Administrative: true, ReadOnly: true,
			ActionGroups: []int{1, 1102, 1105, 1300},
		}
		w := v
		w.Name, w.Description, w.Administrative, w.ReadOnly = "SgioAdmin2", "e", false, false
		w.ActionGroups = []int{1300}
		roundTrip(t, s, v, w, crud[store.Role]{
			insert: store.Tx.InsertRole, update: store.Tx.UpdateRole,
			get:    func(ctx context.Context, tx store.Tx, v store.Role) (store.Role, error) { return tx.GetRole(ctx, v.ID) },
			delete: func(ctx context.Context, tx store.Tx, v store.Role) error { return tx.DeleteRole(ctx, v.ID) },
			list: func(ctx context.Context, tx store.Tx) ([]store.Role, error) {
				return tx.ListRoles(ctx, store.ListOptions{Name: "sgio*"})
			},
		})
	})
}

func TestRoleActionGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		// Groups are a set: duplicates collapse, order does not matter.
		addRole(t, s, "a", 1300, 4, 1105, 4)
		addRole(t, s, "b")
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			a, err := tx.GetRoleByName(ctx, "a")
			if err != nil {
				return err
			}
			if diff := cmp.Diff([]int{4, 1105, 1300}, a.ActionGroups); diff != "" {
				t.Errorf("GetRoleByName groups (-want +got):\n%s", diff)
			}
			list, err := tx.ListRoles(ctx, store.ListOptions{})
			if err != nil {
				return err
			}
			want := []store.Role{a, {ID: "role-b", Name: "b", Description: "role b", ActionGroups: []int{}}}
			if diff := cmp.Diff(want, list); diff != "" {
				t.Errorf("ListRoles (-want +got):\n%s", diff)
			}
			b, err := tx.GetRole(ctx, "role-b")
			if b.ActionGroups == nil {
				t.Error("a role without groups has nil ActionGroups, want an empty slice")
			}
			return err
		})
		wantErr(t, s, store.ErrNotFound, "unknown name", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetRoleByName(ctx, "c")
			return err
		})
		wantErr(t, s, store.ErrConflict, "duplicate name", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertRole(ctx, store.Role{ID: "role-a2", Name: "a"})
		})
		wantErr(t, s, store.ErrNotFound, "update missing", func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateRole(ctx, store.Role{ID: "role-c", Name: "c", ActionGroups: []int{1}})
		})
		// A failed update leaves the groups alone.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			n := 0
			list, err := tx.ListRoles(ctx, store.ListOptions{})
			for _, r := range list {
				n += len(r.ActionGroups)
			}
			if n != 3 {
				t.Errorf("after a failed update: %d action group rows, want 3", n)
			}
			return err
		})
	})
}
