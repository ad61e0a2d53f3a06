package client

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// Collections of the API, as Object and Resolve name them.
const (
	VMs            = "vms"
	Disks          = "disks"
	Clusters       = "clusters"
	DataCenters    = "datacenters"
	StorageDomains = "storagedomains"
	Hosts          = "hosts"
	Roles          = "roles"
	Users          = "users"
	SCSIPolicies   = "scsipolicies"
)

// singular names a collection's objects in messages.
var singular = map[string]string{
	VMs: "VM", Disks: "disk", Clusters: "cluster", DataCenters: "data center",
	StorageDomains: "storage domain", Hosts: "host", Roles: "role", Users: "user", SCSIPolicies: "SCSI policy",
}

func looksLikeID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// RefTo points at an object by id if ref is one, else by name.
func RefTo(ref string) *ovirt.Ref {
	if looksLikeID(ref) {
		return &ovirt.Ref{ID: ref}
	}
	return &ovirt.Ref{Name: ovirt.Str(ref)}
}

// member is any collection's member as Resolve and Names see it.
type member struct {
	ID       string `xml:"id,attr"`
	Name     string `xml:"name"`
	UserName string `xml:"user_name"` // users: bob@internal
}

// members lists a collection's members, whatever their type.
func (c *Client) members(ctx context.Context, collection, search string) ([]member, error) {
	var list struct {
		Items []member `xml:",any"`
	}
	err := c.do(ctx, http.MethodGet, "/"+collection, searchQuery(search), nil, &list)
	return list.Items, err
}

// Names maps the ids of a collection's members (those the caller may see)
// to their names; users to their user@profile.
func (c *Client) Names(ctx context.Context, collection string) (map[string]string, error) {
	items, err := c.members(ctx, collection, "")
	out := make(map[string]string, len(items))
	for _, it := range items {
		out[it.ID] = cmp.Or(it.UserName, it.Name)
	}
	return out, err
}

// Resolve returns the id of the object of collection (VMs, Disks, …) that
// ref names, or ref itself if it is the id of one. A name must match
// exactly one object.
func (c *Client) Resolve(ctx context.Context, collection, ref string) (string, error) {
	what := cmp.Or(singular[collection], collection)
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("no %s given", what)
	}
	items, err := c.members(ctx, collection, "name="+ref)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, it := range items {
		if it.Name == ref {
			ids = append(ids, it.ID)
		}
	}
	switch {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) > 1:
		return "", fmt.Errorf("%d %ss are named %q: give the id", len(ids), what, ref)
	case looksLikeID(ref):
		err := c.do(ctx, http.MethodGet, "/"+collection+"/"+url.PathEscape(ref), nil, nil, nil)
		if err == nil {
			return ref, nil
		}
		if !IsStatus(err, http.StatusNotFound) {
			return "", err
		}
	}
	return "", fmt.Errorf("no %s named %q", what, ref)
}

// ListRoles lists the roles, predefined and custom.
func (c *Client) ListRoles(ctx context.Context, search string) ([]ovirt.Role, error) {
	var out ovirt.Roles
	err := c.do(ctx, http.MethodGet, "/roles", searchQuery(search), nil, &out)
	return nonNil(out.Roles), err
}

// GetRole reads one role by id.
func (c *Client) GetRole(ctx context.Context, id string) (ovirt.Role, error) {
	var out ovirt.Role
	err := c.do(ctx, http.MethodGet, "/roles/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// AddRole creates a custom role with permits named as oVirt names them
// (create_vm, run_vm, …).
func (c *Client) AddRole(ctx context.Context, name, description string, administrative bool, permits ...string) (ovirt.Role, error) {
	in := ovirt.Role{Name: ovirt.Str(name), Administrative: ovirt.B(administrative), Permits: &ovirt.Permits{}}
	if description != "" {
		in.Description = ovirt.Str(description)
	}
	for _, p := range permits {
		in.Permits.Permits = append(in.Permits.Permits, ovirt.Permit{Name: ovirt.Str(p)})
	}
	var out ovirt.Role
	err := c.do(ctx, http.MethodPost, "/roles", nil, &in, &out)
	return out, err
}

// RemoveRole deletes a custom role that no permission grants.
func (c *Client) RemoveRole(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/roles/"+url.PathEscape(id), nil, nil, nil)
}

// ListPermits lists a role's permits.
func (c *Client) ListPermits(ctx context.Context, roleID string) ([]ovirt.Permit, error) {
	var out ovirt.Permits
	err := c.do(ctx, http.MethodGet, "/roles/"+url.PathEscape(roleID)+"/permits", nil, nil, &out)
	return nonNil(out.Permits), err
}

// Object is what permissions are granted on: an object of a collection
// (VMs, Disks, Clusters, DataCenters, StorageDomains, Hosts) by id, or the
// system (the zero Object).
type Object struct {
	Collection string
	ID         string
}

// System is the root of the permission tree.
var System = Object{}

func (o Object) permissionsPath() string {
	if o.Collection == "" {
		return "/permissions"
	}
	return "/" + o.Collection + "/" + url.PathEscape(o.ID) + "/permissions"
}

// ListPermissions lists the permissions granted directly on obj.
func (c *Client) ListPermissions(ctx context.Context, obj Object) ([]ovirt.Permission, error) {
	var out ovirt.Permissions
	err := c.do(ctx, http.MethodGet, obj.permissionsPath(), nil, nil, &out)
	return nonNil(out.Permissions), err
}

// AddPermission grants user (bob@internal, or a user id) the role (by name
// or id) on obj.
func (c *Client) AddPermission(ctx context.Context, obj Object, role, user string) (ovirt.Permission, error) {
	in := ovirt.Permission{Role: &ovirt.Role{}, User: &ovirt.User{}}
	if looksLikeID(role) {
		in.Role.ID = role
	} else {
		in.Role.Name = ovirt.Str(role)
	}
	if looksLikeID(user) {
		in.User.ID = user
	} else {
		in.User.UserName = ovirt.Str(user)
	}
	var out ovirt.Permission
	err := c.do(ctx, http.MethodPost, obj.permissionsPath(), nil, &in, &out)
	return out, err
}

// RemovePermission revokes the permission id on obj.
func (c *Client) RemovePermission(ctx context.Context, obj Object, id string) error {
	return c.do(ctx, http.MethodDelete, obj.permissionsPath()+"/"+url.PathEscape(id), nil, nil, nil)
}
