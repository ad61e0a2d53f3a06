// Package authz is govirt's authentication and authorization, the oVirt
// way: users of the internal domain with argon2id passwords, bearer tokens
// stored hashed, oVirt's action groups and predefined roles, and
// permissions (user, role, object) that inherit down the object tree.
//
// Inheritance follows oVirt's fn_get_entity_parents: a permission on an
// object covers the object and everything below it.
//
//	System ─┬─ DataCenter ─┬─ Cluster ─┬─ Host
//	        │              │           └─ VM ── Disk (attached to it)
//	        │              └─ StorageDomain ── Disk (image)
//
// A disk's parents are its storage domain (image disks) and every VM it is
// attached to, so a LUN disk, which has no storage domain, inherits through
// the VMs that use it; a floating LUN disk has only System and its own
// permissions. Where several paths lead up, any one of them grants. See
// Authorizer for visibility.
//
// The rows (User, Role, Permission, Token) are defined in internal/store,
// which authz reads; the aliases here let callers say authz.User.
package authz

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/govirt/govirt/internal/store"
)

// Aliases of the store's rows.
type (
	User       = store.User
	Role       = store.Role
	Permission = store.Permission
	Token      = store.Token
)

// The internal domain: oVirt's aaa-jdbc extension, whose users log in as
// name@internal.
const (
	// InternalProfile is what follows @ in a user name.
	InternalProfile = "internal"
	// InternalDomain is the authorization domain stored with the user.
	InternalDomain = "internal-authz"
	// InternalNamespace is the namespace of internal users.
	InternalNamespace = "*"
	// AdminName is the name of the user Bootstrap creates.
	AdminName = "admin"
)

// SystemID is the id of the System object, oVirt's fixed one: permissions
// on it are the REST API's /permissions.
const SystemID = "aaa00000-0000-0000-0000-123456789aaa"

// Errors, wrapped where more is known.
var (
	// ErrBadCredentials: no such user, or the wrong password. The two are
	// deliberately not told apart.
	ErrBadCredentials = errors.New("invalid user name or password")
	// ErrLoginNotAllowed: the password is right but no role of the user
	// holds the LOGIN action group.
	ErrLoginNotAllowed = errors.New("user is not allowed to log in")
	// ErrInvalidToken: unknown, revoked or expired token.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrUnknownProfile: the user name names a profile other than internal.
	ErrUnknownProfile = errors.New("unknown authentication profile")
	// ErrReadOnlyRole: a predefined role cannot be changed or removed.
	ErrReadOnlyRole = errors.New("predefined roles cannot be changed")
	// ErrInvalid: a user, password or role that cannot be stored.
	ErrInvalid = errors.New("invalid")
)

// Object names a thing permissions are granted on.
type Object struct {
	Type store.ObjectType
	ID   string
}

func (o Object) String() string { return string(o.Type) + " " + o.ID }

// System is the root object.
func System() Object { return Object{store.ObjectSystem, SystemID} }

// DataCenter names a data center.
func DataCenter(id string) Object { return Object{store.ObjectDataCenter, id} }

// Cluster names a cluster.
func Cluster(id string) Object { return Object{store.ObjectCluster, id} }

// Host names a host.
func Host(id string) Object { return Object{store.ObjectHost, id} }

// StorageDomain names a storage domain.
func StorageDomain(id string) Object { return Object{store.ObjectStorageDomain, id} }

// VM names a VM.
func VM(id string) Object { return Object{store.ObjectVM, id} }

// Disk names a disk.
func Disk(id string) Object { return Object{store.ObjectDisk, id} }

// PermissionObject is the object a permission is granted on.
func PermissionObject(p Permission) Object { return Object{p.ObjectType, p.ObjectID} }

// UserName is the name a user logs in with: bob@internal.
func UserName(u User) string {
	if u.Domain == InternalDomain {
		return u.Name + "@" + InternalProfile
	}
	return u.Name + "@" + u.Domain
}

// ParseUserName splits a login name into the user's name and domain.
// "bob@internal" and "bob@internal-authz" are the internal user bob; a bare
// "bob" is too, for the command line. Any other profile is
// ErrUnknownProfile: the internal domain is the only one.
func ParseUserName(s string) (name, domain string, err error) {
	name, profile := s, InternalProfile
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		name, profile = s[:i], s[i+1:]
	}
	if profile != InternalProfile && profile != InternalDomain {
		return "", "", fmt.Errorf("user %q: %w %q", s, ErrUnknownProfile, profile)
	}
	if err := validateName(name); err != nil {
		return "", "", fmt.Errorf("user %q: %w", s, err)
	}
	return name, InternalDomain, nil
}

// validateName accepts 1 to 255 printable characters without '@' (which
// separates the profile) or white space.
func validateName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w user name: must be 1 to 255 characters", ErrInvalid)
	}
	for _, r := range name {
		if r == '@' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%w user name %q: no '@', spaces or control characters", ErrInvalid, name)
		}
	}
	return nil
}
