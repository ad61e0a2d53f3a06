package sqlstore_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/store"
)

func newUser(name string) store.User {
	return store.User{
		ID: "user-" + name, Name: name, Domain: "internal-authz", Namespace: "*",
		Email: name + "@example.org", PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: when,
	}
}

// addUser inserts a user named name in the internal domain.
func addUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u := newUser(name)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertUser(ctx, u) })
	return u
}

func TestUserRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		v := newUser("bob")
		w := v
		w.Email, w.PasswordHash, w.Namespace = "robert@example.org", "", ""
		roundTrip(t, s, v, w, crud[store.User]{
			insert: store.Tx.InsertUser, update: store.Tx.UpdateUser,
			get:    func(ctx context.Context, tx store.Tx, v store.User) (store.User, error) { return tx.GetUser(ctx, v.ID) },
			delete: func(ctx context.Context, tx store.Tx, v store.User) error { return tx.DeleteUser(ctx, v.ID) },
			list: func(ctx context.Context, tx store.Tx) ([]store.User, error) {
				return tx.ListUsers(ctx, store.ListOptions{Name: "B*"})
			},
		})
	})
}

func TestUserByName(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		bob := addUser(t, s, "bob")
		other := newUser("bob")
		other.ID, other.Domain = "user-bob-ldap", "example.org"
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			// The same name in another domain is another user.
			if err := tx.InsertUser(ctx, other); err != nil {
				return err
			}
			got, err := tx.GetUserByName(ctx, "bob", "internal-authz")
			if err != nil {
				return err
			}
			if diff := cmp.Diff(bob, got); diff != "" {
				t.Errorf("GetUserByName (-want +got):\n%s", diff)
			}
			all, err := tx.ListUsers(ctx, store.ListOptions{})
			if err != nil {
				return err
			}
			// By name, then domain.
			if diff := cmp.Diff([]string{other.ID, bob.ID}, ids(all, func(u store.User) string { return u.ID })); diff != "" {
				t.Errorf("ListUsers order (-want +got):\n%s", diff)
			}
			return nil
		})
		wantErr(t, s, store.ErrNotFound, "unknown name", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetUserByName(ctx, "alice", "internal-authz")
			return err
		})
		wantErr(t, s, store.ErrNotFound, "known name, other domain", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetUserByName(ctx, "bob", "nowhere")
			return err
		})
		wantErr(t, s, store.ErrConflict, "same name and domain", func(ctx context.Context, tx store.Tx) error {
			dup := newUser("bob")
			dup.ID = "user-bob-2"
			return tx.InsertUser(ctx, dup)
		})
	})
}
