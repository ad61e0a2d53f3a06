package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/govirt/govirt/internal/store"
)

// Ids of the predefined roles: oVirt's, so that scripts and clients that
// name roles by id keep working.
const (
	SuperUserID       = "00000000-0000-0000-0000-000000000001"
	UserRoleID        = "00000000-0000-0000-0001-000000000001"
	PowerUserRoleID   = "00000000-0000-0000-0001-000000000002"
	ClusterAdminID    = "def00001-0000-0000-0000-def000000001"
	DataCenterAdminID = "def00002-0000-0000-0000-def000000002"
	StorageAdminID    = "def00003-0000-0000-0000-def000000003"
	HostAdminID       = "def00004-0000-0000-0000-def000000004"
	UserVMManagerID   = "def00006-0000-0000-0000-def000000006"
	DiskOperatorID    = "def0000a-0000-0000-0000-def00000000b"
	DiskCreatorID     = "def0000a-0000-0000-0000-def00000000c"
	VMCreatorID       = "def0000a-0000-0000-0000-def00000000d"
	ReadOnlyAdminID   = "def0000c-0000-0000-0000-def00000000c"
)

// Building blocks of the predefined roles.
var (
	vmBasic   = []ActionGroup{RunVM, StopVM, ShutDownVM, RebootVM, ResetVM, ChangeVMCD, ConnectToVM}
	vmManager = []ActionGroup{CreateVM, DeleteVM, EditVMProperties, ConfigureVMNetwork, ConfigureVMStorage,
		ManipulateVMSnapshots}
	vmAdmin    = []ActionGroup{MigrateVM, ReconnectToVM, EditAdminVMProperties}
	diskUser   = []ActionGroup{CreateDisk, AttachDisk, EditDiskProperties, DeleteDisk}
	hostAll    = []ActionGroup{CreateHost, EditHostConfiguration, DeleteHost, ManipulateHost}
	clusterAll = []ActionGroup{CreateCluster, EditClusterConfiguration, DeleteCluster}
	storageAll = []ActionGroup{CreateStorageDomain, EditStorageDomainConfiguration, DeleteStorageDomain,
		ManipulateStorageDomain}
	poolAll = []ActionGroup{CreateStoragePool, DeleteStoragePool, EditStoragePoolConfiguration}
	// clusterAdmin is everything on a cluster and what runs in it.
	clusterAdmin = join(vmBasic, vmManager, vmAdmin, diskUser, hostAll, clusterAll,
		[]ActionGroup{ConfigureDiskStorage, ManipulatePermissions, Login})
)

// predefinedRoles is the immutable table of oVirt's predefined roles, as
// far as govirt has their objects. Names, ids and descriptions are
// oVirt's; each role holds oVirt's groups among those govirt knows.
var predefinedRoles = []predefined{
	{SuperUserID, "SuperUser", "Roles management administrator", AdminType, allGroups()},
	{ClusterAdminID, "ClusterAdmin", "Administrator Role, permission for all the objects underneath a specific Cluster",
		AdminType, clusterAdmin},
	{DataCenterAdminID, "DataCenterAdmin", "Administrator Role, permission for all the objects underneath a specific Data Center, except Storage",
		AdminType, join(clusterAdmin, poolAll, []ActionGroup{ConfigureSCSIGenericIO})},
	{StorageAdminID, "StorageAdmin", "Administrator Role, permission for all operations on a specific Storage Domain",
		AdminType, join(storageAll, diskUser, []ActionGroup{ConfigureDiskStorage, Login})},
	{HostAdminID, "HostAdmin", "Administrator Role, permission for all operations on a specific Host",
		AdminType, join(hostAll, storageAll, []ActionGroup{Login})},
	{ReadOnlyAdminID, "ReadOnlyAdmin", "Read Only Administrator Role", AdminType, []ActionGroup{Login}},
	{UserRoleID, "UserRole", "Standard User Role", UserType, join(vmBasic, []ActionGroup{Login})},
	{PowerUserRoleID, "PowerUserRole", "User Role, allowed to create VMs, Templates and Disks",
		UserType, []ActionGroup{CreateVM, CreateDisk, Login}},
	{UserVMManagerID, "UserVmManager", "User Role, with permission for any operation on Vms",
		UserType, join(vmBasic, vmManager, diskUser, []ActionGroup{ManipulatePermissions, Login})},
	{DiskOperatorID, "DiskOperator", "User Role, permissions for all operations on a specific disk",
		UserType, join(diskUser, []ActionGroup{ManipulatePermissions, Login})},
	{DiskCreatorID, "DiskCreator", "User Role, permission to create Disks", UserType, []ActionGroup{CreateDisk, Login}},
	{VMCreatorID, "VmCreator", "User Role, permission to create VMs", UserType, []ActionGroup{CreateVM, CreateDisk, Login}},
}

type predefined struct {
	id, name, description string
	typ                   RoleType
	groups                []ActionGroup
}

func allGroups() []ActionGroup {
	out := make([]ActionGroup, len(actionGroups))
	for i, gi := range actionGroups {
		out[i] = gi.Group
	}
	return out
}

func join(sets ...[]ActionGroup) []ActionGroup {
	out := slices.Concat(sets...)
	slices.Sort(out)
	return slices.Compact(out)
}

// PredefinedRoles returns the predefined roles as Seed stores them, in
// the table's order. The slice is the caller's.
func PredefinedRoles() []Role {
	out := make([]Role, len(predefinedRoles))
	for i, p := range predefinedRoles {
		out[i] = Role{
			ID: p.id, Name: p.name, Description: p.description,
			Administrative: p.typ == AdminType, ReadOnly: true, ActionGroups: ids(join(p.groups)),
		}
	}
	return out
}

// IsPredefined tells whether id is a predefined role's.
func IsPredefined(id string) bool {
	return slices.ContainsFunc(predefinedRoles, func(p predefined) bool { return p.id == id })
}

// Seed stores the predefined roles, inserting the missing ones and
// rewriting any that differ (after an upgrade that changes their
// contents); unchanged roles are left alone, so running it at every start
// costs reads only. A custom role that took a predefined role's name makes
// it fail with store.ErrConflict.
func Seed(ctx context.Context, tx store.Tx) error {
	for _, want := range PredefinedRoles() {
		got, err := tx.GetRole(ctx, want.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = tx.InsertRole(ctx, want)
		case err == nil && !sameRole(got, want):
			err = tx.UpdateRole(ctx, want)
		}
		if err != nil {
			return fmt.Errorf("seed role %s: %w", want.Name, err)
		}
	}
	return nil
}

func sameRole(a, b Role) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description &&
		a.Administrative == b.Administrative && a.ReadOnly == b.ReadOnly && slices.Equal(a.ActionGroups, b.ActionGroups)
}

// Groups returns a role's action groups.
func Groups(r Role) []ActionGroup {
	out := make([]ActionGroup, len(r.ActionGroups))
	for i, g := range r.ActionGroups {
		out[i] = ActionGroup(g)
	}
	return out
}

// HasGroup tells whether r holds g.
func HasGroup(r Role, g ActionGroup) bool {
	return slices.Contains(r.ActionGroups, int(g))
}

// ids converts action groups to the ids the store keeps.
func ids(groups []ActionGroup) []int {
	out := make([]int, len(groups))
	for i, g := range groups {
		out[i] = int(g)
	}
	return out
}

// NewRole makes a custom role from action groups, validated as ValidateRole
// does; its ID is left to the caller.
func NewRole(name, description string, administrative bool, groups ...ActionGroup) (Role, error) {
	r := Role{Name: name, Description: description, Administrative: administrative, ActionGroups: ids(join(groups))}
	return r, ValidateRole(r)
}

// ValidateRole checks a custom role before it is stored, as oVirt's
// AddRoleWithActionGroups does: a name, at least one action group, only
// known groups, and no administrative group in a user role (a user role
// would otherwise hand out administrator privileges on the objects it is
// granted on). A custom role cannot be ReadOnly.
func ValidateRole(r Role) error {
	switch {
	case r.Name == "" || len(r.Name) > 126:
		return fmt.Errorf("%w role: the name must be 1 to 126 characters", ErrInvalid)
	case r.ReadOnly:
		return fmt.Errorf("%w role %s: only predefined roles are read-only", ErrInvalid, r.Name)
	case len(r.ActionGroups) == 0:
		return fmt.Errorf("%w role %s: no action groups", ErrInvalid, r.Name)
	}
	for _, g := range Groups(r) {
		if !g.Known() {
			return fmt.Errorf("%w role %s: unknown action group %d", ErrInvalid, r.Name, int(g))
		}
		if !r.Administrative && g.Administrative() {
			return fmt.Errorf("%w role %s: a user role cannot hold the administrative action group %s", ErrInvalid, r.Name, g)
		}
	}
	return nil
}

// CheckMutable refuses changes to a read-only (predefined) role with
// ErrReadOnlyRole; the API calls it before updating or removing a role.
func CheckMutable(r Role) error {
	if r.ReadOnly || IsPredefined(r.ID) {
		return fmt.Errorf("role %s: %w", r.Name, ErrReadOnlyRole)
	}
	return nil
}

// viewsChildren tells whether holding r on an object shows the objects
// below it. Administrative roles always do (ReadOnlyAdmin holds only LOGIN
// yet exists to see); a user role does when one of its groups acts on
// existing objects, so that VmCreator on System lets a user create VMs
// without seeing everyone's (oVirt's allows_viewing_children).
func viewsChildren(r Role) bool {
	if r.Administrative {
		return true
	}
	for _, g := range Groups(r) {
		if gi, ok := g.Info(); ok && gi.ViewsChildren {
			return true
		}
	}
	return false
}
