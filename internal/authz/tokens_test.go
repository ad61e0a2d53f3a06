package authz_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		bob := addUser(t, s, "bob", grant{authz.UserRoleID, authz.System()})
		tok, expires, err := authz.IssueToken(ctx, s, bob.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) != 32 {
			t.Errorf("token %q is not 32 bytes of base64url: %v", tok, err)
		}
		if d := time.Until(expires); d < 59*time.Minute || d > time.Hour {
			t.Errorf("expires in %v, want an hour", d)
		}
		// Stored hashed: the token itself is nowhere in the row.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			row, err := tx.GetToken(ctx, authz.TokenHash(tok))
			if err == nil && (row.HashHex == tok || row.UserID != bob.ID || !row.Expires.Equal(expires)) {
				t.Errorf("stored token %+v", row)
			}
			return err
		})
		u, err := authz.Authenticate(ctx, s, tok)
		if err != nil || u.ID != bob.ID {
			t.Errorf("Authenticate = %v, %v; want bob", u.ID, err)
		}
		for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], string(make([]byte, 1000))} {
			if _, err := authz.Authenticate(ctx, s, bad); !errors.Is(err, authz.ErrInvalidToken) {
				t.Errorf("Authenticate(%.10q…) = %v, want ErrInvalidToken", bad, err)
			}
		}

		if err := authz.Revoke(ctx, s, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := authz.Authenticate(ctx, s, tok); !errors.Is(err, authz.ErrInvalidToken) {
			t.Errorf("Authenticate after Revoke = %v, want ErrInvalidToken", err)
		}
		if err := authz.Revoke(ctx, s, tok); err != nil {
			t.Errorf("revoking twice: %v", err)
		}

		// An expired token is refused, then swept.
		expired := "expired-token"
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			now := time.Now()
			return tx.InsertToken(ctx, authz.Token{HashHex: authz.TokenHash(expired), UserID: bob.ID,
				Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)})
		})
		if _, err := authz.Authenticate(ctx, s, expired); !errors.Is(err, authz.ErrInvalidToken) {
			t.Errorf("Authenticate(expired) = %v, want ErrInvalidToken", err)
		}
		if n, err := authz.PurgeExpiredTokens(ctx, s); n != 1 || err != nil {
			t.Errorf("PurgeExpiredTokens = %d, %v; want 1", n, err)
		}

		if _, _, err := authz.IssueToken(ctx, s, bob.ID, 0); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("IssueToken with no ttl: %v, want ErrInvalid", err)
		}
		if _, _, err := authz.IssueToken(ctx, s, "nobody", time.Hour); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("IssueToken for a missing user: %v, want ErrReferenced", err)
		}
	})
}
