package model

import (
	"time"

	"github.com/govirt/govirt/internal/scsi"
)

// DataCenter groups clusters and storage domains.
type DataCenter struct {
	ID          string
	Name        string
	Description string
	Version     Version
}

// Cluster is a set of hosts VMs can run on; its compatibility version gates
// features such as virtio-scsi (3.3+).
type Cluster struct {
	ID           string
	Name         string
	Description  string
	DataCenterID string
	Version      Version
}

// Host is a hypervisor host with a govirt agent.
type Host struct {
	ID        string
	Name      string
	Address   string // agent address: unix:///path for the local host, host:port otherwise
	ClusterID string
	Status    HostStatus
}

// StorageDomain is a file domain: a directory on the hosts holding image
// volumes, one file per disk.
type StorageDomain struct {
	ID           string
	Name         string
	Description  string
	DataCenterID string
	Path         string // absolute directory on every host of the data center
}

// ISCSILun is where a direct LUN lives and who it is.
type ISCSILun struct {
	Address    string // portal address
	Port       int
	Target     string // target IQN
	LunMapping int    // LUN number on the target
	LunID      string // the LUN's identity (oVirt's logical_unit id)
	Serial     string // SCSI serial (VPD 0x80) when known
	Vendor     string
	Product    string
	Size       int64
}

// Disk is an image in a storage domain or a direct LUN. How it attaches to a
// VM (interface, boot, …) lives on its DiskAttachment.
type Disk struct {
	ID              string
	Alias           string // oVirt's disk alias (REST "name")
	Description     string
	StorageType     DiskStorageType
	Format          DiskFormat // images only
	ProvisionedSize int64      // bytes; images only
	StorageDomainID string     // images only
	Status          DiskStatus
	LUN             *ISCSILun // LUN disks only
	Shareable       bool
	SGIO            ScsiGenericIO // LUN disks only; empty = pass-through off
	// SCSIPolicy names the custom SCSI command policy of a pass-through
	// LUN; empty: the built-in policy its SGIO names (filtered or
	// unfiltered).
	SCSIPolicy      string
	PropagateErrors bool
	CreatedAt       time.Time
}

// IsLUN tells whether the disk is a direct LUN.
func (d Disk) IsLUN() bool { return d.StorageType == StorageLUN }

// PassThrough tells whether the guest talks SCSI to the LUN itself.
func (d Disk) PassThrough() bool { return d.IsLUN() && d.SGIO != SGIODisabled }

// SCSIPolicy is a named, administrator-defined SCSI command policy for
// pass-through LUNs (govirt's extension of oVirt's sgio): a base set and
// allow or deny rules by operation code and service action, in
// internal/scsipolicy's syntax.
type SCSIPolicy struct {
	ID          string
	Name        string
	Description string
	Base        string // filtered, unfiltered or none
	Allow       []string
	Deny        []string
	CreatedAt   time.Time
}

// VM is a virtual machine as the engine keeps it.
type VM struct {
	ID          string
	Name        string
	Description string
	ClusterID   string
	TemplateID  string
	OSType      string
	MemoryBytes int64
	VCPUs       int
	Status      VMStatus
	HostID      string // where it runs, when it runs
	// MigratingTo is the destination host while Status is VMMigrating, and
	// MigrationRun the engine process that runs the migration: a restarted
	// engine tells an interrupted migration from its own (as PendingRun).
	MigratingTo  string
	MigrationRun string
	IOThreads    int // number of I/O threads; with N > 0 there are N virtio-scsi controllers
	// VirtioSCSIMultiQueues: -1 automatic, 0 off, N fixed queues per controller.
	VirtioSCSIMultiQueues int
	Kernel                string
	Initrd                string
	Cmdline               string
	CreatedAt             time.Time
}

// DiskAttachment connects a disk to a VM and says how the guest sees it.
type DiskAttachment struct {
	VMID                string
	DiskID              string
	Interface           DiskInterface
	Bootable            bool
	PassDiscard         bool
	ReadOnly            bool
	UsesSCSIReservation bool
	Active              bool   // plugged
	LogicalName         string // the guest's own device path, e.g. /dev/sdc, once known
}

// Device types and devices of VmDevice rows, as oVirt names them.
const (
	DeviceTypeDisk       = "disk"
	DeviceTypeController = "controller"

	DeviceDisk       = "disk"
	DeviceLUN        = "lun"
	DeviceCDROM      = "cdrom"
	DeviceVirtioSCSI = "virtio-scsi"
)

// VmDevice is one row of a VM's device table: the stable, engine-chosen
// identity and address of a controller or disk. "VirtIO-SCSI enabled" is the
// presence of virtio-scsi controller rows.
type VmDevice struct {
	ID      string // the disk id for disks; a fresh id for controllers
	VMID    string
	Type    string // DeviceTypeDisk or DeviceTypeController
	Device  string // disk, lun, cdrom, virtio-scsi
	Address *scsi.DriveAddress
	// TargetDev is the device name hint ("sdc") libvirt needs unique per VM.
	TargetDev string
	Alias     string
	Plugged   bool
	Managed   bool
	BootOrder int
	// Controller holds a virtio-scsi controller's settings.
	Controller *ControllerSpec
	// Media is a CD-ROM's ISO: "<storage domain id>/<file>", empty when
	// the drive is empty.
	Media string
	// Pending is a hot-plug or hot-unplug reserved in the database and
	// not yet confirmed by the host; PendingRun names the engine process
	// that started it, so a restarted engine can finish or undo what a
	// crash interrupted.
	Pending    PendingOp
	PendingRun string
}

// PendingOp is a device change waiting for its host.
type PendingOp string

// Pending device operations.
const (
	PendingNone   PendingOp = ""
	PendingPlug   PendingOp = "plug"
	PendingUnplug PendingOp = "unplug"
)

// ControllerSpec is a virtio-scsi controller's index, queues and I/O thread.
type ControllerSpec struct {
	Index    int `json:"index"`
	Queues   int `json:"queues,omitempty"`
	IOThread int `json:"iothread,omitempty"`
}

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	ID       int64
	Time     time.Time
	Severity string // normal, warning, error, alert
	Code     string
	Message  string
	User     string
	VMID     string
	DiskID   string
	HostID   string
}
