package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

// Users of the internal domain, oVirt's /users. Unlike oVirt, which only
// imports users from a directory, govirt keeps them itself, so an add
// carries a password; it is write-only (userToWire never sets it).

// conflictf is a 409 the API raises itself: the request is well formed but
// what it names forbids it now.
func conflictf(format string, args ...any) error {
	return &httpError{http.StatusConflict, "Operation Failed", fmt.Sprintf(format, args...)}
}

// invalid turns authz's validation errors into 400s and leaves others.
func invalid(err error) error {
	if errors.Is(err, authz.ErrInvalid) || errors.Is(err, authz.ErrUnknownProfile) {
		return badRequestf("%v.", err)
	}
	return err
}

// findRow reads one row that is not a permission object (users, roles,
// permissions), which every authenticated caller may read; missing is 404.
func findRow[M any](c *call, what, id string, get func(store.Tx, context.Context, string) (M, error)) (M, error) {
	m, err := view(c, func(tx store.Tx) (M, error) { return get(tx, c.ctx, id) })
	if errors.Is(err, store.ErrNotFound) {
		err = notFoundf("Entity not found: %s %s", what, id)
	}
	return m, err
}

// listRows lists rows that need no visibility filter, honouring search and
// max in the store.
func listRows[M, W any](c *call, o store.ListOptions, list func(store.Tx, context.Context, store.ListOptions) ([]M, error), wire func(M) W) ([]W, error) {
	rows, err := view(c, func(tx store.Tx) ([]M, error) { return list(tx, c.ctx, o) })
	if err != nil {
		return nil, err
	}
	out := make([]W, len(rows))
	for i, m := range rows {
		out[i] = wire(m)
	}
	return out, nil
}

// forgetCredentials drops the Auth's cached Basic logins, so that a changed
// password or a removed user stops working at once rather than when the
// cache entry expires. Test Auths have no cache.
func (s *Server) forgetCredentials() {
	if f, ok := s.auth.(interface{ Forget() }); ok {
		f.Forget()
	}
}

// domainID is oVirt's id of an authorization domain: its name in hex.
func domainID(name string) string { return hex.EncodeToString([]byte(name)) }

func userToWire(u store.User) ovirt.User {
	return ovirt.User{
		ID: u.ID, Href: href("users", u.ID),
		Name: ovirt.Str(u.Name), UserName: ovirt.Str(authz.UserName(u)), Principal: ovirt.Str(u.Name),
		Namespace: optStr(u.Namespace), Email: optStr(u.Email),
		Domain: &ovirt.Domain{ID: domainID(u.Domain), Name: ovirt.Str(u.Domain)},
	}
}

// checkDomain accepts a <domain> that names the internal one, by id or
// name, or none: it is the only domain govirt has.
func checkDomain(d *ovirt.Domain) error {
	if d == nil || d.ID == domainID(authz.InternalDomain) ||
		d.ID == "" && (d.Name == nil || *d.Name == authz.InternalDomain || *d.Name == authz.InternalProfile) {
		return nil
	}
	label := d.ID
	if d.Name != nil {
		label = *d.Name
	}
	return notFoundf("Entity not found: domain %s", label)
}

func (s *Server) listUsers(c *call) (int, any, error) {
	o, err := c.listOptions()
	if err != nil {
		return 0, nil, err
	}
	// The store matches the name without its profile: bob@internal is bob.
	if i := strings.LastIndexByte(o.Name, '@'); i >= 0 {
		o.Name = o.Name[:i]
	}
	users, err := listRows(c, o, store.Tx.ListUsers, userToWire)
	return http.StatusOK, ovirt.Users{Users: users}, err
}

func (s *Server) getUser(c *call) (int, any, error) {
	u, err := findRow(c, "user", c.id("id"), store.Tx.GetUser)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, userToWire(u), nil
}

// addUser creates an internal user from user_name (bob@internal) and
// password; a user with no role cannot log in until granted one.
func (s *Server) addUser(c *call) (int, any, error) {
	var in ovirt.User
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := required("User", need{"user_name", in.UserName != nil && *in.UserName != ""}, need{"password", in.Password != nil}); err != nil {
		return 0, nil, err
	}
	name, _, err := authz.ParseUserName(*in.UserName)
	if err != nil {
		return 0, nil, invalid(err)
	}
	if err := checkDomain(in.Domain); err != nil {
		return 0, nil, err
	}
	var email string
	setStr(&email, in.Email)
	u, err := authz.NewInternalUser(name, email, *in.Password)
	if err != nil {
		return 0, nil, invalid(err)
	}
	err = s.st.Tx(c.ctx, func(tx store.Tx) error { return tx.InsertUser(c.ctx, u) })
	if errors.Is(err, store.ErrConflict) {
		return 0, nil, apperr.New(apperr.NameAlreadyUsed, apperr.ActionAdd, apperr.TypeUser, "name", authz.UserName(u))
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, userToWire(u), nil
}

// updateUser changes a password or an e-mail address. Users may change
// their own; anyone else's needs MANIPULATE_USERS. A new password ends the
// user's tokens (authz.SetPassword) and cached Basic logins.
func (s *Server) updateUser(c *call) (int, any, error) {
	id := c.id("id")
	if id != c.p.UserID {
		if err := c.require(agManipulateUsers, System); err != nil {
			return 0, nil, err
		}
	}
	var in ovirt.User
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	cur, err := findRow(c, "user", id, store.Tx.GetUser)
	if err != nil {
		return 0, nil, err
	}
	if in.UserName != nil {
		if name, _, err := authz.ParseUserName(*in.UserName); err != nil || name != cur.Name {
			return 0, nil, immutable("user_name")
		}
	}
	if in.Password != nil {
		if err := authz.SetPassword(c.ctx, s.st, id, *in.Password); err != nil {
			return 0, nil, invalid(err)
		}
		s.forgetCredentials()
	}
	if in.Email != nil {
		err = s.st.Tx(c.ctx, func(tx store.Tx) error {
			u, err := tx.GetUser(c.ctx, id)
			if err != nil {
				return err
			}
			u.Email = *in.Email
			return tx.UpdateUser(c.ctx, u)
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return s.getUser(c)
}

// removeUser deletes a user with their permissions and tokens. Nobody
// removes themselves, as in oVirt, nor the last SuperUser (keepSuperUser):
// either could leave govirt without an administrator.
func (s *Server) removeUser(c *call) (int, any, error) {
	id := c.id("id")
	if id == c.p.UserID {
		return 0, nil, conflictf("Cannot remove User. A user cannot remove themselves.")
	}
	err := s.st.Tx(c.ctx, func(tx store.Tx) error {
		gone := func(p store.Permission) bool { return p.UserID == id }
		if err := keepSuperUser(c.ctx, tx, apperr.TypeUser, gone); err != nil {
			return err
		}
		return tx.DeleteUser(c.ctx, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFoundf("Entity not found: user %s", id)
	}
	if err != nil {
		return 0, nil, err
	}
	s.forgetCredentials()
	return http.StatusOK, nil, nil
}
