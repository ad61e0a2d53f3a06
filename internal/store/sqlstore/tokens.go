package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/govirt/govirt/internal/store"
)

var tokens = &table[store.Token]{
	what:  "token",
	name:  "tokens",
	cols:  []string{"hash", "user_id", "created_at", "expires_at"},
	nkeys: 1,
	order: []string{"hash"},
	values: func(k store.Token) []any {
		return []any{k.HashHex, k.UserID, micros(k.Created), micros(k.Expires)}
	},
	scan: func(s scanner) (k store.Token, err error) {
		var created, expires int64
		err = s.Scan(&k.HashHex, &k.UserID, &created, &expires)
		k.Created, k.Expires = fromMicros(created), fromMicros(expires)
		return k, err
	},
}

// InsertToken fails with store.ErrReferenced when the user does not exist.
func (t *tx) InsertToken(ctx context.Context, k store.Token) error {
	return tokens.insert(ctx, t, k)
}

func (t *tx) GetToken(ctx context.Context, hashHex string) (store.Token, error) {
	return tokens.get(ctx, t, hashHex)
}

func (t *tx) DeleteToken(ctx context.Context, hashHex string) error {
	return tokens.delete(ctx, t, hashHex)
}

func (t *tx) DeleteUserTokens(ctx context.Context, userID string) (int64, error) {
	n, err := t.deleteCount(ctx, "DELETE FROM tokens WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete tokens of user %s: %w", userID, err)
	}
	return n, nil
}

func (t *tx) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	n, err := t.deleteCount(ctx, "DELETE FROM tokens WHERE expires_at <= ?", micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	return n, nil
}
