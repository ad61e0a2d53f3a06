package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/store"
)

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		bob, alice := addUser(t, s, "bob"), addUser(t, s, "alice")
		now := when.UTC()
		tok := func(hash string, u store.User, expires time.Time) store.Token {
			return store.Token{HashHex: hash, UserID: u.ID, Created: now.Add(-time.Minute), Expires: expires}
		}
		live := tok("aa01", bob, now.Add(time.Hour))
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			for _, k := range []store.Token{
				live,
				tok("aa02", bob, now),                   // expires exactly now: expired
				tok("aa03", alice, now.Add(-time.Hour)), // expired
				tok("aa04", alice, now.Add(time.Hour)),
			} {
				if err := tx.InsertToken(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetToken(ctx, "aa01")
			if diff := cmp.Diff(live, got); diff != "" {
				t.Errorf("GetToken (-want +got):\n%s", diff)
			}
			return err
		})
		wantErr(t, s, store.ErrConflict, "same hash twice", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertToken(ctx, live)
		})
		wantErr(t, s, store.ErrReferenced, "token of a missing user", func(ctx context.Context, tx store.Tx) error {
			return tx.InsertToken(ctx, store.Token{HashHex: "bb", UserID: "nobody", Created: now, Expires: now})
		})
		wantErr(t, s, store.ErrNotFound, "get missing", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetToken(ctx, "bb")
			return err
		})
		wantErr(t, s, store.ErrNotFound, "delete missing", func(ctx context.Context, tx store.Tx) error {
			return tx.DeleteToken(ctx, "bb")
		})

		count := func(want, got int64, err error, what string) error {
			t.Helper()
			if got != want {
				t.Errorf("%s: %d deleted, want %d", what, got, want)
			}
			return err
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			n, err := tx.DeleteExpiredTokens(ctx, now)
			return count(2, n, err, "DeleteExpiredTokens")
		})
		wantErr(t, s, store.ErrNotFound, "expired token after the sweep", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetToken(ctx, "aa02")
			return err
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			n, err := tx.DeleteUserTokens(ctx, bob.ID)
			return count(1, n, err, "DeleteUserTokens")
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			// Deleting the user ends their sessions.
			if err := tx.DeleteUser(ctx, alice.ID); err != nil {
				return err
			}
			_, err := tx.GetToken(ctx, "aa04")
			if err == nil {
				t.Error("a deleted user's token is still there")
			}
			return nil
		})
	})
}
