package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/store"
)

func TestPermissions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		bob, alice := addUser(t, s, "bob"), addUser(t, s, "alice")
		user, admin := addRole(t, s, "user", 1300, 22), addRole(t, s, "admin", 1105)
		perm := func(id string, u store.User, r store.Role, typ store.ObjectType, obj string) store.Permission {
			return store.Permission{ID: id, UserID: u.ID, RoleID: r.ID, ObjectType: typ, ObjectID: obj}
		}
		all := []store.Permission{
			perm("p1", bob, user, store.ObjectVM, "vm-1"),
			perm("p2", bob, admin, store.ObjectSystem, "sys"),
			perm("p3", alice, user, store.ObjectVM, "vm-1"),
			perm("p4", alice, user, store.ObjectVM, "vm-2"),
			perm("p5", bob, user, store.ObjectDisk, "disk-1"),
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for _, p := range all {
				if err := tx.InsertPermission(ctx, p); err != nil {
					return err
				}
			}
			return nil
		})
		pids := func(ps []store.Permission) []string { return ids(ps, func(p store.Permission) string { return p.ID }) }
		for _, c := range []struct {
			name string
			f    store.PermissionFilter
			want []string
		}{
			// Ordered by object type and id, then user and role ids.
			{"all", store.PermissionFilter{}, []string{"p5", "p2", "p3", "p1", "p4"}},
			{"user", store.PermissionFilter{UserID: bob.ID}, []string{"p5", "p2", "p1"}},
			{"object", store.PermissionFilter{ObjectType: store.ObjectVM, ObjectID: "vm-1"}, []string{"p3", "p1"}},
			{"type", store.PermissionFilter{ObjectType: store.ObjectVM}, []string{"p3", "p1", "p4"}},
			{"user and object", store.PermissionFilter{UserID: alice.ID, ObjectType: store.ObjectVM, ObjectID: "vm-2"}, []string{"p4"}},
			{"role", store.PermissionFilter{RoleID: admin.ID}, []string{"p2"}},
			{"none", store.PermissionFilter{ObjectID: "vm-9"}, []string{}},
		} {
			mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.ListPermissions(ctx, c.f)
				if diff := cmp.Diff(c.want, pids(got)); diff != "" {
					t.Errorf("%s: ListPermissions (-want +got):\n%s", c.name, diff)
				}
				return err
			})
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetPermission(ctx, "p2")
			if diff := cmp.Diff(all[1], got); diff != "" {
				t.Errorf("GetPermission (-want +got):\n%s", diff)
			}
			return err
		})

		wantErr(t, s, store.ErrConflict, "same grant twice", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertPermission(ctx, perm("p9", bob, user, store.ObjectVM, "vm-1"))
		})
		wantErr(t, s, store.ErrReferenced, "missing user", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertPermission(ctx, store.Permission{ID: "p9", UserID: "nobody", RoleID: user.ID, ObjectType: store.ObjectVM, ObjectID: "vm-1"})
		})
		wantErr(t, s, store.ErrReferenced, "missing role", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertPermission(ctx, store.Permission{ID: "p9", UserID: bob.ID, RoleID: "none", ObjectType: store.ObjectVM, ObjectID: "vm-1"})
		})
		if err := s.Tx(t.Context(), func(tx store.Tx) error {
			return tx.InsertPermission(t.Context(), perm("p9", bob, user, "template", "t-1"))
		}); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("permission on an unknown object type: got %v, want a refusal", err)
		}
		wantErr(t, s, store.ErrNotFound, "delete missing", func(ctx context.Context, tx store.Tx) error {
			return tx.DeletePermission(ctx, "p9")
		})

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			n, err := tx.DeletePermissionsOnObject(ctx, store.ObjectVM, "vm-1")
			if n != 2 {
				t.Errorf("DeletePermissionsOnObject: %d deleted, want 2", n)
			}
			return err
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeletePermission(ctx, "p4"); err != nil {
				return err
			}
			// Deleting the role and the user takes their permissions along.
			if err := tx.DeleteRole(ctx, admin.ID); err != nil {
				return err
			}
			got, err := tx.ListPermissions(ctx, store.PermissionFilter{})
			if diff := cmp.Diff([]string{"p5"}, pids(got)); diff != "" {
				t.Errorf("after deletes (-want +got):\n%s", diff)
			}
			if err := tx.DeleteUser(ctx, bob.ID); err != nil {
				return err
			}
			got, err2 := tx.ListPermissions(ctx, store.PermissionFilter{})
			if len(got) != 0 {
				t.Errorf("after deleting the user: %v, want none", pids(got))
			}
			return errors.Join(err, err2)
		})
	})
}
