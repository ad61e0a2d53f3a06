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

// maxCachedCallers bounds each cache; past it the cache starts afresh.
const maxCachedCallers = 4096

// StoreAuth authenticates against govirt's users and tokens and authorizes
// with authz. It implements Auth.
//
// What it reads about a caller (who a token or password is, the caller's
// permissions and roles) it keeps as of the store's AuthGeneration, which
// every change to users, roles, permissions or tokens moves, by any
// process. A request reads the generation once, when it is authenticated,
// and is answered as of that moment: with the caller's cached grants, a
// check that a permission on System settles (an administrator's) reads
// nothing more. A request costs one small read where it cost three
// transactions of two to four queries.
type StoreAuth struct {
	st store.Store

	mu     sync.Mutex
	basic  map[[32]byte]callerEntry // by SHA-256 of user and password
	tokens map[string]callerEntry   // by token hash
	grants map[string]grantsEntry   // by user id
}

type callerEntry struct {
	p       Principal // without its generation
	gen     int64
	expires time.Time
}

type grantsEntry struct {
	g   authz.Grants
	gen int64
}

// NewStoreAuth builds the real Auth.
func NewStoreAuth(st store.Store) *StoreAuth {
	return &StoreAuth{st: st, basic: map[[32]byte]callerEntry{}, tokens: map[string]callerEntry{}, grants: map[string]grantsEntry{}}
}

// Authenticate implements Auth: a Bearer token from the SSO endpoint, or
// HTTP Basic with user@domain and password.
func (a *StoreAuth) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Bearer "):
		return a.bearer(r.Context(), strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")))
	case strings.HasPrefix(h, "Basic "):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Principal{}, ErrUnauthenticated
		}
		return a.basicLogin(r.Context(), user, pass)
	}
	return Principal{}, ErrUnauthenticated
}

func (a *StoreAuth) bearer(ctx context.Context, token string) (Principal, error) {
	key := authz.TokenHash(token)
	var p Principal
	err := a.st.View(ctx, func(tx store.Tx) error {
		gen, err := tx.AuthGeneration(ctx)
		if err != nil {
			return err
		}
		a.mu.Lock()
		e, ok := a.tokens[key]
		a.mu.Unlock()
		if ok && e.gen == gen && time.Now().Before(e.expires) {
			p = e.p.at(gen)
			return nil
		}
		u, expires, err := authz.AuthenticateIn(ctx, tx, token)
		if err != nil {
			return err
		}
		p = Principal{UserID: u.ID, Name: authz.UserName(u)}
		a.mu.Lock()
		a.tokens = remember(a.tokens, key, callerEntry{p: p, gen: gen, expires: expires})
		a.mu.Unlock()
		p = p.at(gen)
		return nil
	})
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

func (a *StoreAuth) basicLogin(ctx context.Context, user, pass string) (Principal, error) {
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	var gen int64
	if err := a.st.View(ctx, func(tx store.Tx) (err error) {
		gen, err = tx.AuthGeneration(ctx)
		return err
	}); err != nil {
		return Principal{}, ErrUnauthenticated
	}
	a.mu.Lock()
	e, ok := a.basic[key]
	a.mu.Unlock()
	if ok && e.gen == gen && time.Now().Before(e.expires) {
		return e.p.at(gen), nil
	}
	u, err := authz.CheckLogin(ctx, a.st, user, pass)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	p := Principal{UserID: u.ID, Name: authz.UserName(u)}
	a.mu.Lock()
	a.basic = remember(a.basic, key, callerEntry{p: p, gen: gen, expires: time.Now().Add(basicCacheTTL)})
	a.mu.Unlock()
	return p.at(gen), nil
}

// remember adds an entry to a bounded cache.
func remember[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	if len(m) >= maxCachedCallers {
		m = map[K]V{}
	}
	m[k] = v
	return m
}

// Forget drops cached Basic credentials, after a password change.
func (a *StoreAuth) Forget() {
	a.mu.Lock()
	a.basic = map[[32]byte]callerEntry{}
	a.mu.Unlock()
}

// cachedGrants returns the caller's grants as of the generation it was
// authenticated at, if they are in the cache.
func (a *StoreAuth) cachedGrants(p Principal) (authz.Grants, bool) {
	if !p.genKnown {
		return authz.Grants{}, false
	}
	a.mu.Lock()
	e, ok := a.grants[p.UserID]
	a.mu.Unlock()
	return e.g, ok && e.gen == p.gen
}

// subject makes the caller's authz.Subject in tx, from the cached grants or
// read afresh (and cached at the generation read with them).
func (a *StoreAuth) subject(ctx context.Context, tx store.Tx, p Principal) (*authz.Subject, error) {
	if g, ok := a.cachedGrants(p); ok {
		return authz.NewSubjectWith(tx, g), nil
	}
	gen, err := tx.AuthGeneration(ctx)
	if err != nil {
		return nil, err
	}
	g, err := authz.LoadGrants(ctx, tx, p.UserID)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.grants = remember(a.grants, p.UserID, grantsEntry{g: g, gen: gen})
	a.mu.Unlock()
	return authz.NewSubjectWith(tx, g), nil
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
	if gr, ok := a.cachedGrants(p); ok && gr.SystemAllows(g) {
		return true, nil
	}
	var ok bool
	err = a.st.View(ctx, func(tx store.Tx) error {
		s, err := a.subject(ctx, tx, p)
		if err != nil {
			return err
		}
		ok, err = s.Allowed(ctx, g, authzObject(obj))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return ok, err
}

// Visible implements Auth.
func (a *StoreAuth) Visible(ctx context.Context, p Principal, obj Object) (bool, error) {
	o := authzObject(obj)
	if gr, ok := a.cachedGrants(p); ok && gr.SystemShows(o) {
		return true, nil
	}
	var ok bool
	err := a.st.View(ctx, func(tx store.Tx) error {
		s, err := a.subject(ctx, tx, p)
		if err != nil {
			return err
		}
		ok, err = s.Visible(ctx, o)
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
		s, err := a.subject(ctx, tx, p)
		if err != nil {
			return err
		}
		out, err = authz.VisibleAllTo(ctx, s, in)
		return err
	})
	return out, err
}
