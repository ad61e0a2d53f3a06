package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/store"
)

// TestAuthGenerationMovesOnEveryAuthChange holds the triggers to their
// promise: every change that can alter who a caller is or what they may
// do moves the number, and issuing a token does not.
func TestAuthGenerationMovesOnEveryAuthChange(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		gen := func() int64 {
			t.Helper()
			var g int64
			mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
				g, err = tx.AuthGeneration(ctx)
				return err
			})
			return g
		}
		now := when.UTC()
		var bob store.User
		var role store.Role
		perm := store.Permission{ID: "perm-1", RoleID: "role-r", ObjectType: store.ObjectSystem, ObjectID: ""}
		tok := store.Token{HashHex: "cc01", Created: now, Expires: now.Add(time.Hour)}
		for _, c := range []struct {
			what  string
			moves bool
			do    func(ctx context.Context, tx store.Tx) error
		}{
			{"insert user", true, func(ctx context.Context, tx store.Tx) error {
				bob = newUser("bob")
				return tx.InsertUser(ctx, bob)
			}},
			{"update user", true, func(ctx context.Context, tx store.Tx) error {
				bob.Email = "bob@example.org"
				return tx.UpdateUser(ctx, bob)
			}},
			{"insert role", true, func(ctx context.Context, tx store.Tx) error {
				role = store.Role{ID: "role-r", Name: "r", ActionGroups: []int{1}}
				return tx.InsertRole(ctx, role)
			}},
			{"change a role's action groups", true, func(ctx context.Context, tx store.Tx) error {
				role.ActionGroups = []int{1, 2}
				return tx.UpdateRole(ctx, role)
			}},
			{"grant", true, func(ctx context.Context, tx store.Tx) error {
				perm.UserID = bob.ID
				return tx.InsertPermission(ctx, perm)
			}},
			{"revoke", true, func(ctx context.Context, tx store.Tx) error { return tx.DeletePermission(ctx, perm.ID) }},
			{"issue a token", false, func(ctx context.Context, tx store.Tx) error {
				tok.UserID = bob.ID
				return tx.InsertToken(ctx, tok)
			}},
			{"read", false, func(ctx context.Context, tx store.Tx) error {
				_, err := tx.GetToken(ctx, tok.HashHex)
				return err
			}},
			{"revoke a token", true, func(ctx context.Context, tx store.Tx) error { return tx.DeleteToken(ctx, tok.HashHex) }},
			{"delete role", true, func(ctx context.Context, tx store.Tx) error { return tx.DeleteRole(ctx, role.ID) }},
			{"delete user", true, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, bob.ID) }},
		} {
			before := gen()
			mustTx(t, s, c.do)
			if after := gen(); (after != before) != c.moves {
				t.Errorf("%s: generation %d -> %d, want moved=%v", c.what, before, after, c.moves)
			}
		}
	})
}
