package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

// Roles and their permits, oVirt's /roles. A permit is an action group:
// its id is oVirt's action group id and its name the lower-case group
// name, which is what oVirt's clients send. The predefined roles are
// read-only; custom roles follow authz.ValidateRole.

func roleToWire(r store.Role) ovirt.Role {
	base := href("roles", r.ID)
	return ovirt.Role{
		ID: r.ID, Href: base, Name: ovirt.Str(r.Name), Description: optStr(r.Description),
		Administrative: ovirt.B(r.Administrative), Mutable: ovirt.B(authz.CheckMutable(r) == nil),
		Links: links(base, "permits"),
	}
}

func permitToWire(roleID string, g authz.ActionGroup) ovirt.Permit {
	id := strconv.Itoa(int(g))
	return ovirt.Permit{
		ID: id, Href: href("roles", roleID, "permits", id), Name: ovirt.Str(g.PermitName()),
		Administrative: ovirt.B(g.Administrative()), Role: ref("roles", roleID),
	}
}

// permitGroup reads a permit by id (1) or name (create_vm).
func permitGroup(p ovirt.Permit) (authz.ActionGroup, error) {
	if p.ID != "" {
		n, err := strconv.Atoi(p.ID)
		if g := authz.ActionGroup(n); err == nil && g.Known() {
			return g, nil
		}
		return 0, badRequestf("Unknown permit %s.", p.ID)
	}
	if p.Name == nil {
		return 0, badRequestf("A permit needs its id or name.")
	}
	g, err := authz.ParseActionGroup(*p.Name)
	if err != nil {
		return 0, badRequestf("Unknown permit %s.", *p.Name)
	}
	return g, nil
}

func (s *Server) listRoles(c *call) (int, any, error) {
	o, err := c.listOptions()
	if err != nil {
		return 0, nil, err
	}
	roles, err := listRows(c, o, store.Tx.ListRoles, roleToWire)
	return http.StatusOK, ovirt.Roles{Roles: roles}, err
}

func (s *Server) getRole(c *call) (int, any, error) {
	r, err := findRow(c, "role", c.id("id"), store.Tx.GetRole)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, roleToWire(r), nil
}

// addRole creates a custom role with its permits; administrative defaults
// to false, as in oVirt, so a role with administrative permits must say so.
func (s *Server) addRole(c *call) (int, any, error) {
	var in ovirt.Role
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	hasPermits := in.Permits != nil && len(in.Permits.Permits) > 0
	if err := required("Role", need{"name", in.Name != nil && *in.Name != ""}, need{"permits", hasPermits}); err != nil {
		return 0, nil, err
	}
	var groups []authz.ActionGroup
	for _, p := range in.Permits.Permits {
		g, err := permitGroup(p)
		if err != nil {
			return 0, nil, err
		}
		groups = append(groups, g)
	}
	var desc string
	setStr(&desc, in.Description)
	r, err := authz.NewRole(*in.Name, desc, in.Administrative != nil && bool(*in.Administrative), groups...)
	if err != nil {
		return 0, nil, invalid(err)
	}
	r.ID = uuid.NewString()
	err = s.st.Tx(c.ctx, func(tx store.Tx) error { return tx.InsertRole(c.ctx, r) })
	if err != nil {
		return 0, nil, roleFault(err, apperr.ActionAdd, r)
	}
	return http.StatusCreated, roleToWire(r), nil
}

// roleFault maps what a role write can fail with.
func roleFault(err error, action apperr.Action, r store.Role) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return apperr.New(apperr.NameAlreadyUsed, action, apperr.TypeRole, "name", r.Name)
	case errors.Is(err, authz.ErrReadOnlyRole):
		return conflictf("Cannot %s Role. %s is a predefined role and cannot be changed.", action, r.Name)
	case errors.Is(err, store.ErrNotFound):
		return notFoundf("Entity not found: role %s", r.ID)
	}
	return invalid(err)
}

// roleTx runs fn on the custom role {id} in one transaction, after the
// checks every change of a role needs: it exists and is not predefined.
func (s *Server) roleTx(c *call, action apperr.Action, fn func(store.Tx, *store.Role) error) (store.Role, error) {
	r := store.Role{ID: c.id("id")}
	err := s.st.Tx(c.ctx, func(tx store.Tx) error {
		cur, err := tx.GetRole(c.ctx, r.ID)
		if err != nil {
			return err
		}
		r = cur
		if err := authz.CheckMutable(r); err != nil {
			return err
		}
		return fn(tx, &r)
	})
	var he *httpError
	if err != nil && !errors.As(err, &he) {
		err = roleFault(err, action, r)
	}
	return r, err
}

// changeRole applies change to a custom role and stores the result if it
// is still a valid role.
func (s *Server) changeRole(c *call, change func(*store.Role) error) (store.Role, error) {
	return s.roleTx(c, apperr.ActionUpdate, func(tx store.Tx, r *store.Role) error {
		if err := change(r); err != nil {
			return err
		}
		if err := authz.ValidateRole(*r); err != nil {
			return err
		}
		return tx.UpdateRole(c.ctx, *r)
	})
}

// updateRole changes name, description and administrative; the permits
// change through the permits sub-collection, as in oVirt.
func (s *Server) updateRole(c *call) (int, any, error) {
	var in ovirt.Role
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	r, err := s.changeRole(c, func(r *store.Role) error {
		setStr(&r.Name, in.Name)
		setStr(&r.Description, in.Description)
		if in.Administrative != nil {
			r.Administrative = bool(*in.Administrative)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, roleToWire(r), nil
}

// removeRole deletes a custom role that no permission grants; the store
// would take the grants with it, which oVirt refuses too.
func (s *Server) removeRole(c *call) (int, any, error) {
	_, err := s.roleTx(c, apperr.ActionRemove, func(tx store.Tx, r *store.Role) error {
		grants, err := tx.ListPermissions(c.ctx, store.PermissionFilter{RoleID: r.ID})
		if err != nil {
			return err
		}
		if len(grants) > 0 {
			return conflictf("Cannot remove Role. %s is granted in %d permissions.", r.Name, len(grants))
		}
		return tx.DeleteRole(c.ctx, r.ID)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

func (s *Server) listPermits(c *call) (int, any, error) {
	r, err := findRow(c, "role", c.id("id"), store.Tx.GetRole)
	if err != nil {
		return 0, nil, err
	}
	out := ovirt.Permits{Permits: []ovirt.Permit{}}
	for _, g := range authz.Groups(r) {
		out.Permits = append(out.Permits, permitToWire(r.ID, g))
	}
	return http.StatusOK, out, nil
}

// rolePermit reads the permit {pid} of the role {id}.
func (s *Server) rolePermit(c *call) (store.Role, authz.ActionGroup, error) {
	r, err := findRow(c, "role", c.id("id"), store.Tx.GetRole)
	if err != nil {
		return r, 0, err
	}
	n, err := strconv.Atoi(c.id("pid"))
	if g := authz.ActionGroup(n); err == nil && authz.HasGroup(r, g) {
		return r, g, nil
	}
	return r, 0, notFoundf("Entity not found: permit %s of role %s", c.id("pid"), r.Name)
}

func (s *Server) getPermit(c *call) (int, any, error) {
	r, g, err := s.rolePermit(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, permitToWire(r.ID, g), nil
}

func (s *Server) addPermit(c *call) (int, any, error) {
	var in ovirt.Permit
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	g, err := permitGroup(in)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.changeRole(c, func(r *store.Role) error {
		if authz.HasGroup(*r, g) {
			return conflictf("Cannot add permit. Role %s already holds %s.", r.Name, g.PermitName())
		}
		r.ActionGroups = append(r.ActionGroups, int(g))
		slices.Sort(r.ActionGroups)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, permitToWire(r.ID, g), nil
}

// removePermit takes an action group from a custom role; the last one
// stays, since a role without any means nothing.
func (s *Server) removePermit(c *call) (int, any, error) {
	_, g, err := s.rolePermit(c)
	if err != nil {
		return 0, nil, err
	}
	_, err = s.changeRole(c, func(r *store.Role) error {
		i := slices.Index(r.ActionGroups, int(g))
		switch {
		case i < 0:
			return notFoundf("Entity not found: permit %d of role %s", int(g), r.Name)
		case len(r.ActionGroups) == 1:
			return conflictf("Cannot remove permit. %s is the last permit of role %s.", g.PermitName(), r.Name)
		}
		r.ActionGroups = slices.Delete(r.ActionGroups, i, i+1)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}
