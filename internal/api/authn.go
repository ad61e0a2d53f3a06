package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

// basicCacheTTL bounds how long a checked Basic credential is remembered:
// an argon2id check costs ~30 ms, too much for every request of a client
// that sends Basic each time.
const basicCacheTTL = time.Minute

// StoreAuth authenticates against govirt's users and tokens and authorizes
// with authz. It implements Auth.
type StoreAuth struct {
	st store.Store
	az authz.Authorizer

	mu    sync.Mutex
	basic map[[32]byte]basicEntry
}

type basicEntry struct {
	p       Principal
	expires time.Time
}

// NewStoreAuth builds the real Auth.
func NewStoreAuth(st store.Store) *StoreAuth {
	return &StoreAuth{st: st, basic: map[[32]byte]basicEntry{}}
}

// Authenticate implements Auth: a Bearer token from the SSO endpoint, or
// HTTP Basic with user@domain and password.
func (a *StoreAuth) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Bearer "):
		u, err := authz.Authenticate(r.Context(), a.st, strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")))
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{UserID: u.ID, Name: authz.UserName(u)}, nil
	case strings.HasPrefix(h, "Basic "):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Principal{}, ErrUnauthenticated
		}
		return a.basicLogin(r.Context(), user, pass)
	}
	return Principal{}, ErrUnauthenticated
}

func (a *StoreAuth) basicLogin(ctx context.Context, user, pass string) (Principal, error) {
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	e, ok := a.basic[key]
	a.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.p, nil
	}
	u, err := authz.CheckLogin(ctx, a.st, user, pass)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	p := Principal{UserID: u.ID, Name: authz.UserName(u)}
	a.mu.Lock()
	if len(a.basic) > 4096 {
		a.basic = map[[32]byte]basicEntry{}
	}
	a.basic[key] = basicEntry{p: p, expires: time.Now().Add(basicCacheTTL)}
	a.mu.Unlock()
	return p, nil
}

// Forget drops cached Basic credentials, after a password change.
func (a *StoreAuth) Forget() {
	a.mu.Lock()
	a.basic = map[[32]byte]basicEntry{}
	a.mu.Unlock()
}

func authzObject(o Object) authz.Object {
	if o.Type == "system" || o.Type == "" {
		return authz.System()
	}
	return authz.Object{Type: store.ObjectType(o.Type), ID: o.ID}
}

// Allowed implements Auth.
func (a *StoreAuth) Allowed(ctx context.Context, p Principal, group string, obj Object) (bool, error) {
	g, err := authz.ParseActionGroup(group)
	if err != nil {
		return false, err
	}
	var ok bool
	err = a.st.View(ctx, func(tx store.Tx) error {
		ok, err = a.az.Allowed(ctx, tx, p.UserID, g, authzObject(obj))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return ok, err
}

// Visible implements Auth.
func (a *StoreAuth) Visible(ctx context.Context, p Principal, obj Object) (bool, error) {
	var ok bool
	err := a.st.View(ctx, func(tx store.Tx) error {
		var err error
		ok, err = a.az.Visible(ctx, tx, p.UserID, authzObject(obj))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return ok, err
}

// VisibleAll implements Auth.
func (a *StoreAuth) VisibleAll(ctx context.Context, p Principal, sets [][]Object) ([]bool, error) {
	in := make([][]authz.Object, len(sets))
	for i, set := range sets {
		in[i] = make([]authz.Object, len(set))
		for j, o := range set {
			in[i][j] = authzObject(o)
		}
	}
	var out []bool
	err := a.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = a.az.VisibleAll(ctx, tx, p.UserID, in)
		return err
	})
	return out, err
}
