package api

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

// Permissions the oVirt way: every object that permissions are granted on
// has a permissions sub-collection, and the system's is /permissions.
// Reading them needs only to see the object; granting and revoking need
// MANIPULATE_PERMISSIONS on it (the route table checks that) and, beyond
// oVirt, every action group of the role on it: otherwise a UserVmManager,
// who may manage the permissions of its VM, could make itself SuperUser
// there and gain CONFIGURE_SCSI_GENERIC_IO on the VM's disks.

// permScope is one kind of object as the permissions API names it.
type permScope struct {
	typ    store.ObjectType
	coll   string // the collection in paths, "" for the system
	what   string // how a 404 names it
	exists func(store.Tx, context.Context, string) error
	// set points a wire permission at its object.
	set func(*ovirt.Permission, *ovirt.Ref)
}

// has adapts a getter to an existence check.
func has[M any](get func(store.Tx, context.Context, string) (M, error)) func(store.Tx, context.Context, string) error {
	return func(tx store.Tx, ctx context.Context, id string) error {
		_, err := get(tx, ctx, id)
		return err
	}
}

var (
	systemPerms = permScope{store.ObjectSystem, "", "system", nil, func(*ovirt.Permission, *ovirt.Ref) {}}
	vmPerms     = permScope{store.ObjectVM, "vms", "vm", has(store.Tx.GetVM),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.VM = r }}
	diskPerms = permScope{store.ObjectDisk, "disks", "disk", has(store.Tx.GetDisk),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.Disk = r }}
	clusterPerms = permScope{store.ObjectCluster, "clusters", "cluster", has(clusters.get),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.Cluster = r }}
	dataCenterPerms = permScope{store.ObjectDataCenter, "datacenters", "data center", has(dataCenters.get),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.DataCenter = r }}
	storageDomainPerms = permScope{store.ObjectStorageDomain, "storagedomains", "storage domain", has(storageDomains.get),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.StorageDomain = r }}
	hostPerms = permScope{store.ObjectHost, "hosts", "host", has(hosts.get),
		func(p *ovirt.Permission, r *ovirt.Ref) { p.Host = r }}
	permScopes = []permScope{systemPerms, vmPerms, diskPerms, clusterPerms, dataCenterPerms, storageDomainPerms, hostPerms}
)

// object is the object of the request's path; its ID is the store's (the
// system's fixed id for /permissions).
func (sc permScope) object(c *call) Object {
	if sc.exists == nil {
		return Object{Type: string(store.ObjectSystem), ID: authz.SystemID}
	}
	return Object{Type: string(sc.typ), ID: c.id("id")}
}

// permissionsHref is the collection of an object's permissions.
func (sc permScope) permissionsHref(objID string) string {
	if sc.exists == nil {
		return href("permissions")
	}
	return href(sc.coll, objID, "permissions")
}

// find returns the request's object if the caller may see it and it
// exists; otherwise it is missing, as in oVirt.
func (sc permScope) find(c *call) (Object, error) {
	obj := sc.object(c)
	missing := notFoundf("Entity not found: %s %s", sc.what, obj.ID)
	ok, err := c.visible(obj)
	if err != nil || !ok {
		if err == nil {
			err = missing
		}
		return obj, err
	}
	if sc.exists == nil {
		return obj, nil
	}
	_, err = view(c, func(tx store.Tx) (bool, error) { return true, sc.exists(tx, c.ctx, obj.ID) })
	if errors.Is(err, store.ErrNotFound) {
		err = missing
	}
	return obj, err
}

func permissionToWire(p store.Permission) ovirt.Permission {
	sc := systemPerms
	for _, s := range permScopes {
		if s.typ == p.ObjectType {
			sc = s
		}
	}
	out := ovirt.Permission{
		ID: p.ID, Href: sc.permissionsHref(p.ObjectID) + "/" + p.ID,
		Role: &ovirt.Role{ID: p.RoleID, Href: href("roles", p.RoleID)},
		User: &ovirt.User{ID: p.UserID, Href: href("users", p.UserID)},
	}
	if sc.coll != "" {
		sc.set(&out, ref(sc.coll, p.ObjectID))
	}
	return out
}

func (s *Server) listPermissions(sc permScope) func(*call) (int, any, error) {
	return func(c *call) (int, any, error) {
		obj, err := sc.find(c)
		if err != nil {
			return 0, nil, err
		}
		perms, err := view(c, func(tx store.Tx) ([]store.Permission, error) {
			return tx.ListPermissions(c.ctx, store.PermissionFilter{ObjectType: sc.typ, ObjectID: obj.ID})
		})
		out := ovirt.Permissions{Permissions: make([]ovirt.Permission, len(perms))}
		for i, p := range perms {
			out.Permissions[i] = permissionToWire(p)
		}
		return http.StatusOK, out, err
	}
}

// permissionOn reads the permission {pid}, which must be on obj.
func permissionOn(c *call, obj Object) (store.Permission, error) {
	p, err := findRow(c, "permission", c.id("pid"), store.Tx.GetPermission)
	if err == nil && (string(p.ObjectType) != obj.Type || p.ObjectID != obj.ID) {
		err = notFoundf("Entity not found: permission %s", c.id("pid"))
	}
	return p, err
}

func (s *Server) getPermission(sc permScope) func(*call) (int, any, error) {
	return func(c *call) (int, any, error) {
		obj, err := sc.find(c)
		if err != nil {
			return 0, nil, err
		}
		p, err := permissionOn(c, obj)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, permissionToWire(p), nil
	}
}

// holdsRole refuses unless the caller holds every action group of r on
// obj, so that nobody grants or revokes more than they have.
func (c *call) holdsRole(r store.Role, obj Object, action apperr.Action) error {
	for _, g := range authz.Groups(r) {
		ok := g.Known()
		if ok {
			var err error
			if ok, err = c.s.auth.Allowed(c.ctx, c.p, g.String(), obj); err != nil {
				return err
			}
		}
		if !ok {
			return apperr.New(apperr.UserNotAuthorized, action, apperr.TypePermission)
		}
	}
	return nil
}

// grantee resolves the role (by id or name) and the user (by id or
// user_name) of a new permission.
func grantee(c *call, in ovirt.Permission) (store.Role, store.User, error) {
	var r store.Role
	var u store.User
	hasRole := in.Role != nil && (in.Role.ID != "" || in.Role.Name != nil && *in.Role.Name != "")
	hasUser := in.User != nil && (in.User.ID != "" || in.User.UserName != nil && *in.User.UserName != "")
	if err := required("Permission", need{"role.id|name", hasRole}, need{"user.id|user_name", hasUser}); err != nil {
		return r, u, err
	}
	err := c.s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if in.Role.ID != "" {
			r, err = tx.GetRole(c.ctx, in.Role.ID)
		} else {
			r, err = tx.GetRoleByName(c.ctx, *in.Role.Name)
		}
		if err != nil {
			return notFound(err, "role", refLabel(&ovirt.Ref{ID: in.Role.ID, Name: in.Role.Name}))
		}
		if in.User.ID != "" {
			u, err = tx.GetUser(c.ctx, in.User.ID)
			return notFound(err, "user", in.User.ID)
		}
		name, domain, err := authz.ParseUserName(*in.User.UserName)
		if err == nil {
			u, err = tx.GetUserByName(c.ctx, name, domain)
		}
		if errors.Is(err, authz.ErrUnknownProfile) {
			err = store.ErrNotFound
		}
		return notFound(invalid(err), "user", *in.User.UserName)
	})
	return r, u, err
}

// notFound names a missing row in a 404 and leaves other errors.
func notFound(err error, what, label string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundf("Entity not found: %s %s", what, label)
	}
	return err
}

func (s *Server) addPermission(sc permScope) func(*call) (int, any, error) {
	return func(c *call) (int, any, error) {
		var in ovirt.Permission
		if err := c.decode(&in); err != nil {
			return 0, nil, err
		}
		obj, err := sc.find(c)
		if err != nil {
			return 0, nil, err
		}
		r, u, err := grantee(c, in)
		if err != nil {
			return 0, nil, err
		}
		if err := c.holdsRole(r, obj, apperr.ActionAdd); err != nil {
			return 0, nil, err
		}
		p := store.Permission{ID: uuid.NewString(), UserID: u.ID, RoleID: r.ID, ObjectType: sc.typ, ObjectID: obj.ID}
		err = s.st.Tx(c.ctx, func(tx store.Tx) error { return tx.InsertPermission(c.ctx, p) })
		switch {
		case errors.Is(err, store.ErrConflict):
			return 0, nil, conflictf("Cannot add Permission. %s already has role %s on this object.", authz.UserName(u), r.Name)
		case errors.Is(err, store.ErrReferenced):
			return 0, nil, notFoundf("Entity not found: the user or role was removed meanwhile")
		case err != nil:
			return 0, nil, err
		}
		return http.StatusCreated, permissionToWire(p), nil
	}
}

// removePermission revokes a permission. The last SuperUser permission on
// the system stays (keepSuperUser).
func (s *Server) removePermission(sc permScope) func(*call) (int, any, error) {
	return func(c *call) (int, any, error) {
		obj, err := sc.find(c)
		if err != nil {
			return 0, nil, err
		}
		p, err := permissionOn(c, obj)
		if err != nil {
			return 0, nil, err
		}
		r, err := findRow(c, "role", p.RoleID, store.Tx.GetRole)
		if err != nil {
			return 0, nil, err
		}
		if err := c.holdsRole(r, obj, apperr.ActionRemove); err != nil {
			return 0, nil, err
		}
		err = s.st.Tx(c.ctx, func(tx store.Tx) error {
			gone := func(q store.Permission) bool { return q.ID == p.ID }
			if err := keepSuperUser(c.ctx, tx, apperr.TypePermission, gone); err != nil {
				return err
			}
			return notFound(tx.DeletePermission(c.ctx, p.ID), "permission", p.ID)
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, nil, nil
	}
}

// keepSuperUser refuses a removal that would leave no SuperUser permission
// on the system, which nobody could grant again through the API; gone tells
// which of those permissions the removal takes.
func keepSuperUser(ctx context.Context, tx store.Tx, typ apperr.Type, gone func(store.Permission) bool) error {
	supers, err := tx.ListPermissions(ctx, store.PermissionFilter{RoleID: authz.SuperUserID, ObjectType: store.ObjectSystem})
	if err != nil || !slices.ContainsFunc(supers, gone) {
		return err
	}
	for _, p := range supers {
		if !gone(p) {
			return nil
		}
	}
	return conflictf("Cannot remove %s. It would leave no SuperUser permission on the system.", typ)
}
