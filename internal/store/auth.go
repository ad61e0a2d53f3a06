package store

import (
	"context"
	"time"
)

// The rows of authentication and authorization. They live here rather than
// in internal/authz because authz reads the store: the store must not
// import it back. authz gives them their meaning (action groups, the
// predefined roles, inheritance); the store only keeps them.

// User is a user of an authorization domain. Only the internal domain keeps
// a password here; the REST user_name is Name@profile ("bob@internal").
type User struct {
	ID   string
	Name string // the login name without its profile: "bob"
	// Domain is the authorization domain ("internal-authz"); (Name, Domain)
	// is unique.
	Domain    string
	Namespace string
	Email     string
	// PasswordHash is a PHC string ($argon2id$…); empty means the user
	// cannot log in with a password.
	PasswordHash string
	CreatedAt    time.Time
}

// Role is a named set of action groups. The store keeps ActionGroups as a
// set of oVirt action group ids (duplicates collapse) and returns them in
// ascending order. ReadOnly marks the predefined roles; the store does not
// enforce it, so that seeding can update them.
type Role struct {
	ID             string
	Name           string // unique
	Description    string
	Administrative bool
	ReadOnly       bool
	ActionGroups   []int
}

// ObjectType names the kind of object a permission is granted on.
type ObjectType string

// The object types permissions are granted on. The database refuses others.
const (
	ObjectSystem        ObjectType = "system"
	ObjectDataCenter    ObjectType = "data_center"
	ObjectCluster       ObjectType = "cluster"
	ObjectHost          ObjectType = "host"
	ObjectStorageDomain ObjectType = "storage_domain"
	ObjectVM            ObjectType = "vm"
	ObjectDisk          ObjectType = "disk"
)

// Permission grants a user a role on one object. (UserID, RoleID,
// ObjectType, ObjectID) is unique. ObjectID is not a foreign key: objects
// live in several tables, so whoever deletes an object deletes its
// permissions (DeletePermissionsOnObject).
type Permission struct {
	ID         string
	UserID     string
	RoleID     string
	ObjectType ObjectType
	ObjectID   string
}

// PermissionFilter selects permissions; empty fields match everything.
type PermissionFilter struct {
	UserID     string
	RoleID     string
	ObjectType ObjectType
	ObjectID   string
}

// Token is an issued access token. Only its SHA-256 is kept, so a copy of
// the database does not hand out sessions.
type Token struct {
	HashHex string // hex SHA-256 of the token; the key
	UserID  string
	Expires time.Time
	Created time.Time
}

// Users persists users. Deleting a user deletes their permissions and
// tokens.
type Users interface {
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByName(ctx context.Context, name, domain string) (User, error)
	// ListUsers matches ListOptions.Name against the user name.
	ListUsers(ctx context.Context, o ListOptions) ([]User, error)
	InsertUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error
	DeleteUser(ctx context.Context, id string) error
}

// Roles persists roles with their action groups. Deleting a role deletes
// the permissions that grant it.
type Roles interface {
	GetRole(ctx context.Context, id string) (Role, error)
	GetRoleByName(ctx context.Context, name string) (Role, error)
	ListRoles(ctx context.Context, o ListOptions) ([]Role, error)
	InsertRole(ctx context.Context, r Role) error
	// UpdateRole replaces the role's fields and its action groups.
	UpdateRole(ctx context.Context, r Role) error
	DeleteRole(ctx context.Context, id string) error
}

// Permissions persists permissions.
type Permissions interface {
	GetPermission(ctx context.Context, id string) (Permission, error)
	// ListPermissions lists the permissions matching f, ordered by object,
	// then user and role.
	ListPermissions(ctx context.Context, f PermissionFilter) ([]Permission, error)
	// InsertPermission fails with ErrConflict when the user already has the
	// role on the object, and ErrReferenced when the user or role is missing.
	InsertPermission(ctx context.Context, p Permission) error
	DeletePermission(ctx context.Context, id string) error
	// DeletePermissionsOnObject removes every permission on one object and
	// returns how many there were; deleting none is not an error.
	DeletePermissionsOnObject(ctx context.Context, t ObjectType, id string) (int64, error)
}

// Tokens persists access tokens.
type Tokens interface {
	// AuthGeneration is a number that moves whenever a user, role,
	// permission or token changes (by any process), except when a token
	// is issued: what was read about a caller at one generation holds
	// while it is unchanged.
	AuthGeneration(ctx context.Context) (int64, error)
	InsertToken(ctx context.Context, t Token) error
	// GetToken returns the token whatever its expiry; the caller checks it.
	GetToken(ctx context.Context, hashHex string) (Token, error)
	DeleteToken(ctx context.Context, hashHex string) error
	// DeleteUserTokens ends every session of a user (after a password
	// change) and returns how many there were.
	DeleteUserTokens(ctx context.Context, userID string) (int64, error)
	// DeleteExpiredTokens removes tokens that expired at or before now and
	// returns how many.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)
}
