package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/govirt/govirt/internal/store"
)

// tokenBytes is the entropy of a token: 256 bits, beyond guessing, which
// is why a fast unsalted SHA-256 is enough to store it.
const tokenBytes = 32

// maxTokenLen bounds what Authenticate hashes: a token is 43 characters.
const maxTokenLen = 256

// TokenHash is the key a token is stored under: the hex SHA-256 of its
// text.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IssueToken creates an access token for the user, valid for ttl, and
// returns it with its expiry. Only its hash is stored: the token itself
// exists only in the answer to the client.
func IssueToken(ctx context.Context, st store.Store, userID string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("issue token: ttl %v: %w", ttl, ErrInvalid)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("issue token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	// The store keeps microseconds; truncating here makes the expiry
	// returned the one stored.
	now := time.Now().UTC().Truncate(time.Microsecond)
	t := Token{HashHex: TokenHash(token), UserID: userID, Created: now, Expires: now.Add(ttl)}
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.InsertToken(ctx, t) }); err != nil {
		return "", time.Time{}, fmt.Errorf("issue token for user %s: %w", userID, err)
	}
	return token, t.Expires, nil
}

// Authenticate returns the user a token was issued to. An unknown,
// revoked or expired token is ErrInvalidToken.
func Authenticate(ctx context.Context, st store.Store, token string) (User, error) {
	var u User
	err := st.View(ctx, func(tx store.Tx) (err error) {
		u, _, err = AuthenticateIn(ctx, tx, token)
		return err
	})
	return u, err
}

// AuthenticateIn is Authenticate inside the caller's transaction; it also
// returns when the token expires.
func AuthenticateIn(ctx context.Context, tx store.Tx, token string) (User, time.Time, error) {
	if token == "" || len(token) > maxTokenLen {
		return User{}, time.Time{}, ErrInvalidToken
	}
	t, err := tx.GetToken(ctx, TokenHash(token))
	var u User
	switch {
	case err != nil:
	case !time.Now().Before(t.Expires):
		err = ErrInvalidToken
	default:
		u, err = tx.GetUser(ctx, t.UserID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrInvalidToken):
		return User{}, time.Time{}, ErrInvalidToken
	case err != nil:
		return User{}, time.Time{}, fmt.Errorf("authenticate token: %w", err)
	}
	return u, t.Expires, nil
}

// Revoke ends a token's validity. Revoking an unknown or expired token is
// not an error (RFC 7009: the client's intent is met either way).
func Revoke(ctx context.Context, st store.Store, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	err := st.Tx(ctx, func(tx store.Tx) error { return tx.DeleteToken(ctx, TokenHash(token)) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// PurgeExpiredTokens deletes the tokens that have expired, for a periodic
// sweep; Authenticate refuses them either way.
func PurgeExpiredTokens(ctx context.Context, st store.Store) (int64, error) {
	var n int64
	err := st.Tx(ctx, func(tx store.Tx) (err error) {
		n, err = tx.DeleteExpiredTokens(ctx, time.Now())
		return err
	})
	return n, err
}
