package api

// route is one method and path of the API: its handler and the action
// group the caller needs on the object `on` names (System when on is nil).
// An empty group means any authenticated user; such reads show only what
// the caller may see. Checks that depend on the body (the cluster of a new
// VM, sgio of a new LUN) are made by the handler with c.require and listed
// in bodyChecks so that the whole permission matrix reads from this file.
type route struct {
	method     string
	path       string
	group      string
	on         func(*call) (Object, error)
	bodyChecks string
	handle     func(*call) (int, any, error)
}

// Action groups the routes use (oVirt's names).
const (
	agCreateVM            = "CREATE_VM"
	agDeleteVM            = "DELETE_VM"
	agEditVM              = "EDIT_VM_PROPERTIES"
	agRunVM               = "RUN_VM"
	agStopVM              = "STOP_VM"
	agShutdownVM          = "SHUT_DOWN_VM"
	agMigrateVM           = "MIGRATE_VM"
	agConfigureVMStorage  = "CONFIGURE_VM_STORAGE"
	agCreateDisk          = "CREATE_DISK"
	agDeleteDisk          = "DELETE_DISK"
	agEditDisk            = "EDIT_DISK_PROPERTIES"
	agAttachDisk          = "ATTACH_DISK"
	agConfigureSGIO       = "CONFIGURE_SCSI_GENERIC_IO"
	agCreateCluster       = "CREATE_CLUSTER"
	agEditCluster         = "EDIT_CLUSTER_CONFIGURATION"
	agDeleteCluster       = "DELETE_CLUSTER"
	agCreateDataCenter    = "CREATE_STORAGE_POOL"
	agEditDataCenter      = "EDIT_STORAGE_POOL_CONFIGURATION"
	agDeleteDataCenter    = "DELETE_STORAGE_POOL"
	agCreateStorageDomain = "CREATE_STORAGE_DOMAIN"
	agEditStorageDomain   = "EDIT_STORAGE_DOMAIN_CONFIGURATION"
	agDeleteStorageDomain = "DELETE_STORAGE_DOMAIN"
	agCreateHost          = "CREATE_HOST"
	agEditHost            = "EDIT_HOST_CONFIGURATION"
	agDeleteHost          = "DELETE_HOST"
	agManipulateUsers     = "MANIPULATE_USERS"
	agManipulateRoles     = "MANIPULATE_ROLES"
	agManipulatePerms     = "MANIPULATE_PERMISSIONS"
)

func pathObj(typ, param string) func(*call) (Object, error) {
	return func(c *call) (Object, error) { return Object{Type: typ, ID: c.id(param)}, nil }
}

var (
	onVM      = pathObj("vm", "id")
	onDisk    = pathObj("disk", "id")
	onCluster = pathObj("cluster", "id")
	onDC      = pathObj("data_center", "id")
	onSD      = pathObj("storage_domain", "id")
	onHost    = pathObj("host", "id")
)

// routes is the route table.
func (s *Server) routes() []route {
	return []route{
		{method: "GET", path: "", handle: s.getRoot},
		{method: "GET", path: "/{$}", handle: s.getRoot},

		{method: "GET", path: "/vms", handle: s.listVMs},
		{method: "POST", path: "/vms", bodyChecks: "CREATE_VM on the cluster", handle: s.addVM},
		{method: "GET", path: "/vms/{id}", handle: s.getVM},
		{method: "PUT", path: "/vms/{id}", group: agEditVM, on: onVM, handle: s.updateVM},
		{method: "DELETE", path: "/vms/{id}", group: agDeleteVM, on: onVM, handle: s.removeVM},
		{method: "POST", path: "/vms/{id}/start", group: agRunVM, on: onVM, handle: s.startVM},
		{method: "POST", path: "/vms/{id}/stop", group: agStopVM, on: onVM, handle: s.stopVM},
		{method: "POST", path: "/vms/{id}/shutdown", group: agShutdownVM, on: onVM, handle: s.shutdownVM},
		{method: "POST", path: "/vms/{id}/migrate", group: agMigrateVM, on: onVM, handle: s.migrateVM},
		{method: "GET", path: "/vms/{id}/cdroms", handle: s.listCDROMs},
		{method: "GET", path: "/vms/{id}/cdroms/{cid}", handle: s.getCDROM},
		{method: "PUT", path: "/vms/{id}/cdroms/{cid}", group: agChangeCD, on: onVM, handle: s.updateCDROM},
		{method: "GET", path: "/vms/{id}/diskattachments", handle: s.listAttachments},
		{method: "POST", path: "/vms/{id}/diskattachments", group: agConfigureVMStorage, on: onVM,
			bodyChecks: "a new disk: CREATE_DISK on its storage domain (System for a LUN); an existing disk: ATTACH_DISK on it; unfiltered sgio: CONFIGURE_SCSI_GENERIC_IO on System",
			handle:     s.addAttachment},
		{method: "GET", path: "/vms/{id}/diskattachments/{did}", handle: s.getAttachment},
		{method: "PUT", path: "/vms/{id}/diskattachments/{did}", group: agConfigureVMStorage, on: onVM, handle: s.updateAttachment},
		{method: "DELETE", path: "/vms/{id}/diskattachments/{did}", group: agConfigureVMStorage, on: onVM,
			bodyChecks: "without detach_only: DELETE_DISK on the disk", handle: s.removeAttachment},

		{method: "GET", path: "/disks", handle: s.listDisks},
		{method: "POST", path: "/disks", bodyChecks: "CREATE_DISK on its storage domain (System for a LUN); unfiltered sgio or any scsi_policy but filtered: CONFIGURE_SCSI_GENERIC_IO on System", handle: s.addDisk},
		{method: "GET", path: "/disks/{id}", handle: s.getDisk},
		{method: "PUT", path: "/disks/{id}", group: agEditDisk, on: onDisk, bodyChecks: "a change of sgio or scsi_policy: CONFIGURE_SCSI_GENERIC_IO on the disk (on System for a custom policy)", handle: s.updateDisk},
		{method: "DELETE", path: "/disks/{id}", group: agDeleteDisk, on: onDisk, handle: s.removeDisk},

		{method: "GET", path: "/datacenters", handle: s.listDataCenters},
		{method: "POST", path: "/datacenters", group: agCreateDataCenter, handle: s.addDataCenter},
		{method: "GET", path: "/datacenters/{id}", handle: s.getDataCenter},
		{method: "PUT", path: "/datacenters/{id}", group: agEditDataCenter, on: onDC, handle: s.updateDataCenter},
		{method: "DELETE", path: "/datacenters/{id}", group: agDeleteDataCenter, on: onDC, handle: s.removeDataCenter},

		{method: "GET", path: "/clusterlevels", handle: s.listClusterLevels},
		{method: "GET", path: "/clusterlevels/{id}", handle: s.getClusterLevel},
		{method: "GET", path: "/clusters", handle: s.listClusters},
		{method: "POST", path: "/clusters", bodyChecks: "CREATE_CLUSTER on the data center", handle: s.addCluster},
		{method: "GET", path: "/clusters/{id}", handle: s.getCluster},
		{method: "PUT", path: "/clusters/{id}", group: agEditCluster, on: onCluster, handle: s.updateCluster},
		{method: "DELETE", path: "/clusters/{id}", group: agDeleteCluster, on: onCluster, handle: s.removeCluster},

		{method: "GET", path: "/hosts", handle: s.listHosts},
		{method: "POST", path: "/hosts", bodyChecks: "CREATE_HOST on the cluster", handle: s.addHost},
		{method: "GET", path: "/hosts/{id}", handle: s.getHost},
		{method: "PUT", path: "/hosts/{id}", group: agEditHost, on: onHost, handle: s.updateHost},
		{method: "DELETE", path: "/hosts/{id}", group: agDeleteHost, on: onHost, handle: s.removeHost},

		{method: "GET", path: "/storagedomains", handle: s.listStorageDomains},
		{method: "POST", path: "/storagedomains", bodyChecks: "CREATE_STORAGE_DOMAIN on the data center", handle: s.addStorageDomain},
		{method: "GET", path: "/storagedomains/{id}", handle: s.getStorageDomain},
		{method: "PUT", path: "/storagedomains/{id}", group: agEditStorageDomain, on: onSD, handle: s.updateStorageDomain},
		{method: "DELETE", path: "/storagedomains/{id}", group: agDeleteStorageDomain, on: onSD, handle: s.removeStorageDomain},
		{method: "GET", path: "/storagedomains/{id}/disks", handle: s.listStorageDomainDisks},

		{method: "GET", path: "/operatingsystems", handle: s.listOperatingSystems},
		{method: "GET", path: "/operatingsystems/{id}", handle: s.getOperatingSystem},
		{method: "GET", path: "/events", handle: s.listEvents},

		{method: "GET", path: "/users", handle: s.listUsers},
		{method: "POST", path: "/users", group: agManipulateUsers, handle: s.addUser},
		{method: "GET", path: "/users/{id}", handle: s.getUser},
		{method: "GET", path: "/users/{id}/permissions", handle: s.listUserPermissions},
		{method: "PUT", path: "/users/{id}", bodyChecks: "the user themself, or MANIPULATE_USERS on System", handle: s.updateUser},
		{method: "DELETE", path: "/users/{id}", group: agManipulateUsers, handle: s.removeUser},

		{method: "GET", path: "/scsipolicies", handle: s.listSCSIPolicies},
		{method: "POST", path: "/scsipolicies", group: agConfigureSGIO, handle: s.addSCSIPolicy},
		{method: "GET", path: "/scsipolicies/{id}", handle: s.getSCSIPolicy},
		{method: "PUT", path: "/scsipolicies/{id}", group: agConfigureSGIO, handle: s.updateSCSIPolicy},
		{method: "DELETE", path: "/scsipolicies/{id}", group: agConfigureSGIO, handle: s.removeSCSIPolicy},

		{method: "GET", path: "/roles", handle: s.listRoles},
		{method: "POST", path: "/roles", group: agManipulateRoles, handle: s.addRole},
		{method: "GET", path: "/roles/{id}", handle: s.getRole},
		{method: "PUT", path: "/roles/{id}", group: agManipulateRoles, handle: s.updateRole},
		{method: "DELETE", path: "/roles/{id}", group: agManipulateRoles, handle: s.removeRole},
		{method: "GET", path: "/roles/{id}/permits", handle: s.listPermits},
		{method: "POST", path: "/roles/{id}/permits", group: agManipulateRoles, handle: s.addPermit},
		{method: "GET", path: "/roles/{id}/permits/{pid}", handle: s.getPermit},
		{method: "DELETE", path: "/roles/{id}/permits/{pid}", group: agManipulateRoles, handle: s.removePermit},

		{method: "GET", path: "/permissions", handle: s.listPermissions(systemPerms)},
		{method: "POST", path: "/permissions", group: agManipulatePerms, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(systemPerms)},
		{method: "GET", path: "/permissions/{pid}", handle: s.getPermission(systemPerms)},
		{method: "DELETE", path: "/permissions/{pid}", group: agManipulatePerms, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(systemPerms)},

		{method: "GET", path: "/vms/{id}/permissions", handle: s.listPermissions(vmPerms)},
		{method: "POST", path: "/vms/{id}/permissions", group: agManipulatePerms, on: onVM, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(vmPerms)},
		{method: "GET", path: "/vms/{id}/permissions/{pid}", handle: s.getPermission(vmPerms)},
		{method: "DELETE", path: "/vms/{id}/permissions/{pid}", group: agManipulatePerms, on: onVM, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(vmPerms)},

		{method: "GET", path: "/disks/{id}/permissions", handle: s.listPermissions(diskPerms)},
		{method: "POST", path: "/disks/{id}/permissions", group: agManipulatePerms, on: onDisk, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(diskPerms)},
		{method: "GET", path: "/disks/{id}/permissions/{pid}", handle: s.getPermission(diskPerms)},
		{method: "DELETE", path: "/disks/{id}/permissions/{pid}", group: agManipulatePerms, on: onDisk, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(diskPerms)},

		{method: "GET", path: "/clusters/{id}/permissions", handle: s.listPermissions(clusterPerms)},
		{method: "POST", path: "/clusters/{id}/permissions", group: agManipulatePerms, on: onCluster, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(clusterPerms)},
		{method: "GET", path: "/clusters/{id}/permissions/{pid}", handle: s.getPermission(clusterPerms)},
		{method: "DELETE", path: "/clusters/{id}/permissions/{pid}", group: agManipulatePerms, on: onCluster, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(clusterPerms)},

		{method: "GET", path: "/datacenters/{id}/permissions", handle: s.listPermissions(dataCenterPerms)},
		{method: "POST", path: "/datacenters/{id}/permissions", group: agManipulatePerms, on: onDC, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(dataCenterPerms)},
		{method: "GET", path: "/datacenters/{id}/permissions/{pid}", handle: s.getPermission(dataCenterPerms)},
		{method: "DELETE", path: "/datacenters/{id}/permissions/{pid}", group: agManipulatePerms, on: onDC, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(dataCenterPerms)},

		{method: "GET", path: "/storagedomains/{id}/permissions", handle: s.listPermissions(storageDomainPerms)},
		{method: "POST", path: "/storagedomains/{id}/permissions", group: agManipulatePerms, on: onSD, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(storageDomainPerms)},
		{method: "GET", path: "/storagedomains/{id}/permissions/{pid}", handle: s.getPermission(storageDomainPerms)},
		{method: "DELETE", path: "/storagedomains/{id}/permissions/{pid}", group: agManipulatePerms, on: onSD, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(storageDomainPerms)},

		{method: "GET", path: "/hosts/{id}/permissions", handle: s.listPermissions(hostPerms)},
		{method: "POST", path: "/hosts/{id}/permissions", group: agManipulatePerms, on: onHost, bodyChecks: "every action group of the role, on the object", handle: s.addPermission(hostPerms)},
		{method: "GET", path: "/hosts/{id}/permissions/{pid}", handle: s.getPermission(hostPerms)},
		{method: "DELETE", path: "/hosts/{id}/permissions/{pid}", group: agManipulatePerms, on: onHost, bodyChecks: "every action group of the role, on the object", handle: s.removePermission(hostPerms)},
		{method: "GET", path: "/openapi.json", handle: s.getOpenAPI},
	}
}
