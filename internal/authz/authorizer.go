package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/store"
)

// Authorizer answers permission questions from the store. It keeps no
// state between calls, so a check always sees its transaction's data,
// including permissions granted or revoked earlier in it; the zero value
// is ready to use.
//
// Allowed: a user may act on an object when one of their permissions on
// the object or on one of its ancestors (see the package comment) grants a
// role holding the action group.
//
// Visible: a user sees an object when they hold any permission on it; or
// one on an ancestor whose role shows children (administrative roles, and
// user roles that act on existing objects, but not VmCreator or
// DiskCreator, which only create); or one on an object below it, so that a
// user with a VM sees its cluster and data center, as oVirt's user portal
// does. Looking up from a permission follows containment only (disk to
// storage domain, not disk to the VMs it is attached to): holding a disk
// does not show the VMs that use it.
type Authorizer struct{}

// Allowed tells whether the user may perform group on obj.
func (Authorizer) Allowed(ctx context.Context, tx store.Tx, userID string, group ActionGroup, obj Object) (bool, error) {
	s, err := NewSubject(ctx, tx, userID)
	if err != nil {
		return false, err
	}
	return s.Allowed(ctx, group, obj)
}

// Visible tells whether the user may see obj.
func (Authorizer) Visible(ctx context.Context, tx store.Tx, userID string, obj Object) (bool, error) {
	s, err := NewSubject(ctx, tx, userID)
	if err != nil {
		return false, err
	}
	return s.Visible(ctx, obj)
}

// Subject is one user's permissions, read once, for the many checks of one
// request (filtering a collection). It reads through the transaction it
// was made with and must not outlive it.
type Subject struct {
	tx     store.Tx
	userID string
	perms  []Permission
	roles  map[string]Role
	// inherit memoises the ancestors (self included) of objects, through
	// disk attachments too.
	inherit map[Object][]Object
	// below holds the objects that contain an object the user has a
	// permission on, once computed.
	below map[Object]bool
}

// Grants are a user's permissions with the roles they grant: what every
// check of theirs starts from, which a caller may keep while the store's
// AuthGeneration stays where it was when they were read.
type Grants struct {
	UserID string
	Perms  []Permission
	Roles  map[string]Role // by id, every role of Perms
}

// LoadGrants reads the user's permissions and their roles.
func LoadGrants(ctx context.Context, tx store.Tx, userID string) (Grants, error) {
	perms, err := tx.ListPermissions(ctx, store.PermissionFilter{UserID: userID})
	if err != nil {
		return Grants{}, fmt.Errorf("permissions of user %s: %w", userID, err)
	}
	g := Grants{UserID: userID, Perms: perms, Roles: map[string]Role{}}
	for _, p := range perms {
		if _, ok := g.Roles[p.RoleID]; ok {
			continue
		}
		r, err := tx.GetRole(ctx, p.RoleID)
		if err != nil {
			return Grants{}, fmt.Errorf("role of a permission of user %s: %w", userID, err)
		}
		g.Roles[p.RoleID] = r
	}
	return g, nil
}

// SystemAllows tells whether a permission on System grants group, which
// then holds on every object: a check that needs no object read.
func (g Grants) SystemAllows(group ActionGroup) bool {
	return g.onSystem(System(), func(r Role, own bool) bool { return HasGroup(r, group) })
}

// SystemShows tells whether a permission on System shows obj (see
// Authorizer: Visible) without reading anything about obj.
func (g Grants) SystemShows(obj Object) bool {
	return g.onSystem(obj, func(r Role, own bool) bool { return own || viewsChildren(r) })
}

// onSystem tells whether a permission on System has a role for which ok
// holds, own telling ok whether obj is System itself.
func (g Grants) onSystem(obj Object, ok func(r Role, own bool) bool) bool {
	sys := System()
	for _, p := range g.Perms {
		if po := PermissionObject(p); po == sys {
			if r, found := g.Roles[p.RoleID]; found && ok(r, po == obj) {
				return true
			}
		}
	}
	return false
}

// NewSubject reads the user's permissions.
func NewSubject(ctx context.Context, tx store.Tx, userID string) (*Subject, error) {
	g, err := LoadGrants(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	return NewSubjectWith(tx, g), nil
}

// NewSubjectWith makes a Subject of grants already read, checking through
// tx what it needs about objects.
func NewSubjectWith(tx store.Tx, g Grants) *Subject {
	roles := make(map[string]Role, len(g.Roles))
	for id, r := range g.Roles {
		roles[id] = r
	}
	return &Subject{tx: tx, userID: g.UserID, perms: g.Perms, roles: roles, inherit: map[Object][]Object{}}
}

// UserID is the user whose permissions these are.
func (s *Subject) UserID() string { return s.userID }

// Allowed tells whether the user may perform group on obj.
func (s *Subject) Allowed(ctx context.Context, group ActionGroup, obj Object) (bool, error) {
	return s.grants(ctx, obj, func(r Role, own bool) bool { return HasGroup(r, group) })
}

// Visible tells whether the user may see obj.
func (s *Subject) Visible(ctx context.Context, obj Object) (bool, error) {
	ok, err := s.grants(ctx, obj, func(r Role, own bool) bool { return own || viewsChildren(r) })
	if ok || err != nil {
		return ok, err
	}
	if s.below == nil {
		if err := s.computeBelow(ctx); err != nil {
			return false, err
		}
	}
	return s.below[obj], nil
}

// CanLogin tells whether any of the user's roles holds LOGIN, wherever it
// is granted.
func (s *Subject) CanLogin(ctx context.Context) (bool, error) {
	for _, p := range s.perms {
		r, err := s.role(ctx, p.RoleID)
		if err != nil {
			return false, err
		}
		if HasGroup(r, Login) {
			return true, nil
		}
	}
	return false, nil
}

// Filter keeps the items the user may see; obj names each item's object.
func Filter[T any](ctx context.Context, s *Subject, items []T, obj func(T) Object) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		ok, err := s.Visible(ctx, obj(it))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// VisibleAll tells, for each set of objects, whether the user may see every
// object of it: one read of the user's permissions for a whole collection.
// A set whose check finds something missing is not visible.
func (Authorizer) VisibleAll(ctx context.Context, tx store.Tx, userID string, sets [][]Object) ([]bool, error) {
	s, err := NewSubject(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	return VisibleAllTo(ctx, s, sets)
}

// VisibleAllTo is VisibleAll for a Subject already made.
func VisibleAllTo(ctx context.Context, s *Subject, sets [][]Object) ([]bool, error) {
	out := make([]bool, len(sets))
	for i, set := range sets {
		out[i] = true
		for _, obj := range set {
			ok, err := s.Visible(ctx, obj)
			if errors.Is(err, store.ErrNotFound) {
				ok, err = false, nil
			}
			if err != nil {
				return nil, err
			}
			if !ok {
				out[i] = false
				break
			}
		}
	}
	return out, nil
}

// grants tells whether a permission on obj or an ancestor has a role for
// which ok holds; own tells ok whether the permission is on obj itself.
// Permissions on System come first: System is everything's ancestor, so an
// administrator's checks need no lookup of the object's parents.
func (s *Subject) grants(ctx context.Context, obj Object, ok func(r Role, own bool) bool) (bool, error) {
	if len(s.perms) == 0 {
		return false, nil
	}
	if (Grants{UserID: s.userID, Perms: s.perms, Roles: s.roles}).onSystem(obj, ok) {
		return true, nil
	}
	up, err := s.ancestors(ctx, obj)
	if err != nil {
		return false, err
	}
	on := make(map[Object]bool, len(up))
	for _, o := range up {
		on[o] = true
	}
	for _, p := range s.perms {
		po := PermissionObject(p)
		if !on[po] {
			continue
		}
		r, err := s.role(ctx, p.RoleID)
		if err != nil {
			return false, err
		}
		if ok(r, po == obj) {
			return true, nil
		}
	}
	return false, nil
}

func (s *Subject) role(ctx context.Context, id string) (Role, error) {
	if r, ok := s.roles[id]; ok {
		return r, nil
	}
	r, err := s.tx.GetRole(ctx, id)
	if err != nil {
		return Role{}, fmt.Errorf("role of a permission of user %s: %w", s.userID, err)
	}
	s.roles[id] = r
	return r, nil
}

func (s *Subject) ancestors(ctx context.Context, obj Object) ([]Object, error) {
	if up, ok := s.inherit[obj]; ok {
		return up, nil
	}
	up, err := ancestors(ctx, s.tx, obj, true)
	if err != nil {
		return nil, err
	}
	s.inherit[obj] = up
	return up, nil
}

func (s *Subject) computeBelow(ctx context.Context) error {
	s.below = map[Object]bool{}
	for _, p := range s.perms {
		up, err := ancestors(ctx, s.tx, PermissionObject(p), false)
		if err != nil {
			return err
		}
		for _, o := range up {
			s.below[o] = true
		}
	}
	return nil
}

// ancestors returns obj, everything above it and System. With attached,
// a disk's parents include the VMs it is attached to (inheritance);
// without, only its storage domain (containment). An object or parent that
// no longer exists ends its branch rather than failing: its permissions
// may outlive it, and System still applies.
func ancestors(ctx context.Context, tx store.Tx, obj Object, attached bool) ([]Object, error) {
	seen := map[Object]bool{obj: true}
	out := []Object{obj}
	for i := 0; i < len(out); i++ {
		ps, err := parents(ctx, tx, out[i], attached)
		if err != nil {
			return nil, fmt.Errorf("ancestors of %s: %w", obj, err)
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if sys := System(); !seen[sys] {
		out = append(out, sys)
	}
	return out, nil
}

// parents returns the objects directly above obj.
func parents(ctx context.Context, tx store.Tx, obj Object, attached bool) ([]Object, error) {
	var ps []Object
	var err error
	switch obj.Type {
	case store.ObjectSystem:
		return nil, nil
	case store.ObjectDataCenter:
		return []Object{System()}, nil
	case store.ObjectCluster:
		c, e := tx.GetCluster(ctx, obj.ID)
		ps, err = []Object{DataCenter(c.DataCenterID)}, e
	case store.ObjectHost:
		h, e := tx.GetHost(ctx, obj.ID)
		ps, err = []Object{Cluster(h.ClusterID)}, e
	case store.ObjectStorageDomain:
		sd, e := tx.GetStorageDomain(ctx, obj.ID)
		ps, err = []Object{DataCenter(sd.DataCenterID)}, e
	case store.ObjectVM:
		vm, e := tx.GetVM(ctx, obj.ID)
		ps, err = []Object{Cluster(vm.ClusterID)}, e
	case store.ObjectDisk:
		ps, err = diskParents(ctx, tx, obj.ID, attached)
	default:
		return nil, fmt.Errorf("%w object type %q", ErrInvalid, obj.Type)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return ps, err
}

func diskParents(ctx context.Context, tx store.Tx, id string, attached bool) ([]Object, error) {
	d, err := tx.GetDisk(ctx, id)
	if err != nil {
		return nil, err
	}
	var ps []Object
	if d.StorageDomainID != "" {
		ps = append(ps, StorageDomain(d.StorageDomainID))
	}
	if attached {
		as, err := tx.ListAttachmentsOfDisk(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			ps = append(ps, VM(a.VMID))
		}
	}
	return ps, nil
}
