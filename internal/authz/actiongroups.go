package authz

import (
	"fmt"
	"slices"
	"strings"
)

// ActionGroup is one of oVirt's action groups: the unit of privilege that
// roles are made of. Its value is oVirt's id, which is what the database,
// the REST API (permit ids) and oVirt's clients use; its String is oVirt's
// enum name.
type ActionGroup int

// The action groups govirt knows, with oVirt's ids. oVirt has more (pools,
// templates, networks, gluster …); govirt has no such objects, and a role
// read from the database keeps any id it does not know.
const (
	CreateVM              ActionGroup = 1
	DeleteVM              ActionGroup = 2
	EditVMProperties      ActionGroup = 3
	ChangeVMCD            ActionGroup = 5
	MigrateVM             ActionGroup = 6
	ConnectToVM           ActionGroup = 7
	ConfigureVMNetwork    ActionGroup = 9
	ConfigureVMStorage    ActionGroup = 10
	ManipulateVMSnapshots ActionGroup = 12
	ReconnectToVM         ActionGroup = 13
	EditAdminVMProperties ActionGroup = 15
	RebootVM              ActionGroup = 17
	StopVM                ActionGroup = 18
	ShutDownVM            ActionGroup = 19
	RunVM                 ActionGroup = 22
	ResetVM               ActionGroup = 23

	CreateHost            ActionGroup = 100
	EditHostConfiguration ActionGroup = 101
	DeleteHost            ActionGroup = 102
	ManipulateHost        ActionGroup = 103

	CreateCluster            ActionGroup = 400
	EditClusterConfiguration ActionGroup = 401
	DeleteCluster            ActionGroup = 402

	ManipulateUsers       ActionGroup = 500
	ManipulateRoles       ActionGroup = 501
	ManipulatePermissions ActionGroup = 502

	CreateStorageDomain            ActionGroup = 600
	EditStorageDomainConfiguration ActionGroup = 601
	DeleteStorageDomain            ActionGroup = 602
	ManipulateStorageDomain        ActionGroup = 603

	CreateStoragePool            ActionGroup = 700
	DeleteStoragePool            ActionGroup = 701
	EditStoragePoolConfiguration ActionGroup = 702

	ConfigureEngine ActionGroup = 800

	CreateDisk             ActionGroup = 1100
	AttachDisk             ActionGroup = 1101
	EditDiskProperties     ActionGroup = 1102
	ConfigureDiskStorage   ActionGroup = 1103
	DeleteDisk             ActionGroup = 1104
	ConfigureSCSIGenericIO ActionGroup = 1105

	Login ActionGroup = 1300
)

// RoleType says whether an action group, or a role, is for administrators
// or for users; oVirt's role_type values.
type RoleType int

// Role types.
const (
	AdminType RoleType = 1
	UserType  RoleType = 2
)

// The categories of the portal's role dialog, in the order it shows them.
const (
	CategorySystem        = "System"
	CategoryDataCenter    = "Data Center"
	CategoryStorageDomain = "Storage Domain"
	CategoryCluster       = "Cluster"
	CategoryHost          = "Host"
	CategoryVM            = "VM"
	CategoryDisk          = "Disk"
)

// Categories lists the role dialog's categories in display order.
func Categories() []string {
	return []string{CategorySystem, CategoryDataCenter, CategoryStorageDomain,
		CategoryCluster, CategoryHost, CategoryVM, CategoryDisk}
}

// GroupInfo describes an action group for the API and the portal.
type GroupInfo struct {
	Group    ActionGroup
	Name     string // oVirt's enum name, CONFIGURE_SCSI_GENERIC_IO
	Label    string // what the role dialog shows
	Tooltip  string
	Type     RoleType
	Category string
	// ViewsChildren tells whether holding the group on an object lets the
	// holder see the objects below it: creating something does not, acting
	// on it does (oVirt's allowsViewingChildren).
	ViewsChildren bool
}

// actionGroups is the immutable table behind ActionGroup, in id order.
var actionGroups = []GroupInfo{
	{CreateVM, "CREATE_VM", "Create VM", "Allow to create new VMs", UserType, CategoryVM, false},
	{DeleteVM, "DELETE_VM", "Delete VM", "Allow to remove VMs", UserType, CategoryVM, true},
	{EditVMProperties, "EDIT_VM_PROPERTIES", "Edit VM Properties", "Allow to change the properties of a VM", UserType, CategoryVM, true},
	{ChangeVMCD, "CHANGE_VM_CD", "Change CD", "Allow to change the CD of a VM", UserType, CategoryVM, true},
	{MigrateVM, "MIGRATE_VM", "Migrate VM", "Allow to migrate a VM between the hosts of its cluster", UserType, CategoryVM, true},
	{ConnectToVM, "CONNECT_TO_VM", "Connect to Console", "Allow to open the console of a VM", UserType, CategoryVM, true},
	{ConfigureVMNetwork, "CONFIGURE_VM_NETWORK", "Configure VM Network", "Allow to change the network interfaces of a VM", UserType, CategoryVM, true},
	{ConfigureVMStorage, "CONFIGURE_VM_STORAGE", "Configure VM Storage", "Allow to add disks to a VM and remove them", UserType, CategoryVM, true},
	{ManipulateVMSnapshots, "MANIPULATE_VM_SNAPSHOTS", "Manipulate Snapshots", "Allow to create and delete snapshots of a VM", UserType, CategoryVM, true},
	{ReconnectToVM, "RECONNECT_TO_VM", "Override Opened Console Session", "Allow to take over a console another user has open", UserType, CategoryVM, true},
	{EditAdminVMProperties, "EDIT_ADMIN_VM_PROPERTIES", "Administer VM", "Allow to change the administrative properties of a VM", AdminType, CategoryVM, true},
	{RebootVM, "REBOOT_VM", "Reboot VM", "Allow to reboot a VM", UserType, CategoryVM, true},
	{StopVM, "STOP_VM", "Stop VM", "Allow to power off a VM", UserType, CategoryVM, true},
	{ShutDownVM, "SHUT_DOWN_VM", "Shut Down VM", "Allow to shut down a VM", UserType, CategoryVM, true},
	{RunVM, "RUN_VM", "Run VM", "Allow to run a VM", UserType, CategoryVM, true},
	{ResetVM, "RESET_VM", "Reset VM", "Allow to reset a VM", UserType, CategoryVM, true},

	{CreateHost, "CREATE_HOST", "Create Host", "Allow to add hosts to a cluster", AdminType, CategoryHost, true},
	{EditHostConfiguration, "EDIT_HOST_CONFIGURATION", "Edit Host Configuration", "Allow to change the properties of a host", AdminType, CategoryHost, true},
	{DeleteHost, "DELETE_HOST", "Delete Host", "Allow to remove hosts", AdminType, CategoryHost, true},
	{ManipulateHost, "MANIPULATE_HOST", "Maintenance Host", "Allow to move a host to maintenance and activate it", AdminType, CategoryHost, true},

	{CreateCluster, "CREATE_CLUSTER", "Create Cluster", "Allow to create clusters", AdminType, CategoryCluster, true},
	{EditClusterConfiguration, "EDIT_CLUSTER_CONFIGURATION", "Edit Cluster Configuration", "Allow to change the properties of a cluster", AdminType, CategoryCluster, true},
	{DeleteCluster, "DELETE_CLUSTER", "Delete Cluster", "Allow to remove clusters", AdminType, CategoryCluster, true},

	{ManipulateUsers, "MANIPULATE_USERS", "Manipulate Users", "Allow to add, change and remove users", AdminType, CategorySystem, true},
	{ManipulateRoles, "MANIPULATE_ROLES", "Manipulate Roles", "Allow to define custom roles", AdminType, CategorySystem, true},
	{ManipulatePermissions, "MANIPULATE_PERMISSIONS", "Manipulate Permissions", "Allow to grant and revoke permissions on an object", UserType, CategorySystem, true},

	{CreateStorageDomain, "CREATE_STORAGE_DOMAIN", "Create Storage Domain", "Allow to create storage domains", AdminType, CategoryStorageDomain, true},
	{EditStorageDomainConfiguration, "EDIT_STORAGE_DOMAIN_CONFIGURATION", "Edit Storage Domain Configuration", "Allow to change the properties of a storage domain", AdminType, CategoryStorageDomain, true},
	{DeleteStorageDomain, "DELETE_STORAGE_DOMAIN", "Delete Storage Domain", "Allow to remove storage domains", AdminType, CategoryStorageDomain, true},
	{ManipulateStorageDomain, "MANIPULATE_STORAGE_DOMAIN", "Manipulate Storage Domain", "Allow to activate a storage domain and move it to maintenance", AdminType, CategoryStorageDomain, true},

	{CreateStoragePool, "CREATE_STORAGE_POOL", "Create Data Center", "Allow to create data centers", AdminType, CategoryDataCenter, true},
	{DeleteStoragePool, "DELETE_STORAGE_POOL", "Delete Data Center", "Allow to remove data centers", AdminType, CategoryDataCenter, true},
	{EditStoragePoolConfiguration, "EDIT_STORAGE_POOL_CONFIGURATION", "Edit Data Center Configuration", "Allow to change the properties of a data center", AdminType, CategoryDataCenter, true},

	{ConfigureEngine, "CONFIGURE_ENGINE", "Configure Engine", "Allow to change the engine's configuration", AdminType, CategorySystem, true},

	{CreateDisk, "CREATE_DISK", "Create Disk", "Allow to create disks", UserType, CategoryDisk, false},
	{AttachDisk, "ATTACH_DISK", "Attach Disk", "Allow to attach a disk to a VM", UserType, CategoryDisk, true},
	{EditDiskProperties, "EDIT_DISK_PROPERTIES", "Edit Disk Properties", "Allow to change the properties of a disk", UserType, CategoryDisk, true},
	{ConfigureDiskStorage, "CONFIGURE_DISK_STORAGE", "Move Disk", "Allow to move a disk to another storage domain", UserType, CategoryDisk, true},
	{DeleteDisk, "DELETE_DISK", "Delete Disk", "Allow to remove disks", UserType, CategoryDisk, true},
	{ConfigureSCSIGenericIO, "CONFIGURE_SCSI_GENERIC_IO", "Manipulate SCSI I/O Privileges", "Allow to change SCSI I/O privileges", AdminType, CategoryDisk, true},

	{Login, "LOGIN", "Login Permissions", "Allow to log in", UserType, CategorySystem, false},
}

// ActionGroups lists every known action group in id order. The slice is
// the caller's.
func ActionGroups() []GroupInfo {
	return slices.Clone(actionGroups)
}

// Info describes g; false when govirt does not know it.
func (g ActionGroup) Info() (GroupInfo, bool) {
	i, ok := slices.BinarySearchFunc(actionGroups, g, func(gi GroupInfo, g ActionGroup) int { return int(gi.Group - g) })
	if !ok {
		return GroupInfo{}, false
	}
	return actionGroups[i], true
}

// Known tells whether govirt knows g.
func (g ActionGroup) Known() bool {
	_, ok := g.Info()
	return ok
}

// String returns oVirt's name, or the bare id for an unknown group.
func (g ActionGroup) String() string {
	if gi, ok := g.Info(); ok {
		return gi.Name
	}
	return fmt.Sprintf("ActionGroup(%d)", int(g))
}

// PermitName is the group's name in the REST API's permits:
// configure_scsi_generic_io.
func (g ActionGroup) PermitName() string {
	return strings.ToLower(g.String())
}

// Administrative tells whether only administrative roles may hold g. An
// unknown group counts as administrative, which is the safer guess.
func (g ActionGroup) Administrative() bool {
	gi, ok := g.Info()
	return !ok || gi.Type == AdminType
}

// ParseActionGroup reads an action group by oVirt's name in any case
// (CONFIGURE_SCSI_GENERIC_IO, or the permit name configure_scsi_generic_io).
func ParseActionGroup(name string) (ActionGroup, error) {
	for _, gi := range actionGroups {
		if strings.EqualFold(gi.Name, name) {
			return gi.Group, nil
		}
	}
	return 0, fmt.Errorf("unknown action group %q", name)
}
