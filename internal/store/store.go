// Package store persists govirt's model. The engine sees only the interfaces
// here; sqlstore implements them on SQLite (embedded, the default) and on
// PostgreSQL, with one schema and one test suite. The database itself
// enforces what must never break: unique drive addresses among a VM's
// plugged devices, one attachment per (VM, disk), non-shareable disks on at
// most one VM, and foreign keys.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/govirt/govirt/internal/model"
)

// Errors every implementation returns (wrapped, for errors.Is).
var (
	// ErrNotFound: no row with that id or name.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint refused the write (a name in use, an
	// address taken, a second attachment of a non-shareable disk).
	ErrConflict = errors.New("conflict")
	// ErrReferenced: a foreign key refused the write (the row is still used,
	// or refers to a missing row).
	ErrReferenced = errors.New("referenced")
)

// Store opens transactions. Every engine command runs in exactly one.
type Store interface {
	// Tx runs fn in a read-write transaction and commits if fn returns nil.
	// On SQLite the transaction takes the write lock at BEGIN (IMMEDIATE), so
	// concurrent commands queue instead of failing; busy waits are bounded.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the database.
	Close() error
}

// Tx is one transaction. Its methods are grouped by entity in the small
// interfaces below.
type Tx interface {
	DataCenters
	Clusters
	Hosts
	StorageDomains
	VMs
	Disks
	Attachments
	Devices
	Events
	Config
	Users
	Roles
	Permissions
	Tokens
	SCSIPolicies
	// LockVM serialises commands on one VM across engine processes
	// (SELECT … FOR UPDATE on PostgreSQL; SQLite's write lock already does).
	LockVM(ctx context.Context, id string) error
}

// ListOptions narrows a list: Name matches with * wildcards, Max caps it
// (0: no cap). Results are ordered by name, then id.
type ListOptions struct {
	Name string
	Max  int
}

// DataCenters persists data centers.
type DataCenters interface {
	GetDataCenter(ctx context.Context, id string) (model.DataCenter, error)
	ListDataCenters(ctx context.Context, o ListOptions) ([]model.DataCenter, error)
	InsertDataCenter(ctx context.Context, dc model.DataCenter) error
	UpdateDataCenter(ctx context.Context, dc model.DataCenter) error
	DeleteDataCenter(ctx context.Context, id string) error
}

// Clusters persists clusters.
type Clusters interface {
	GetCluster(ctx context.Context, id string) (model.Cluster, error)
	ListClusters(ctx context.Context, o ListOptions) ([]model.Cluster, error)
	InsertCluster(ctx context.Context, c model.Cluster) error
	UpdateCluster(ctx context.Context, c model.Cluster) error
	DeleteCluster(ctx context.Context, id string) error
}

// Hosts persists hosts.
type Hosts interface {
	GetHost(ctx context.Context, id string) (model.Host, error)
	ListHosts(ctx context.Context, o ListOptions) ([]model.Host, error)
	InsertHost(ctx context.Context, h model.Host) error
	UpdateHost(ctx context.Context, h model.Host) error
	DeleteHost(ctx context.Context, id string) error
}

// StorageDomains persists storage domains.
type StorageDomains interface {
	GetStorageDomain(ctx context.Context, id string) (model.StorageDomain, error)
	ListStorageDomains(ctx context.Context, o ListOptions) ([]model.StorageDomain, error)
	InsertStorageDomain(ctx context.Context, sd model.StorageDomain) error
	UpdateStorageDomain(ctx context.Context, sd model.StorageDomain) error
	DeleteStorageDomain(ctx context.Context, id string) error
}

// VMs persists VMs. Names are unique.
type VMs interface {
	GetVM(ctx context.Context, id string) (model.VM, error)
	ListVMs(ctx context.Context, o ListOptions) ([]model.VM, error)
	InsertVM(ctx context.Context, vm model.VM) error
	UpdateVM(ctx context.Context, vm model.VM) error
	DeleteVM(ctx context.Context, id string) error
	// VMGeneration is a number that grows with every change to the VM's
	// device rows, attachments or attached disks, in the same transaction:
	// rows read at one generation are current while it has not moved.
	VMGeneration(ctx context.Context, id string) (int64, error)
}

// Disks persists disks (images and LUNs). Aliases need not be unique.
type Disks interface {
	GetDisk(ctx context.Context, id string) (model.Disk, error)
	// ListDisksOfVM lists the disks attached to a VM, in one query:
	// loading a VM with thousands of disks one GetDisk each dominated every
	// command on it.
	ListDisksOfVM(ctx context.Context, vmID string) ([]model.Disk, error)
	ListDisks(ctx context.Context, o ListOptions) ([]model.Disk, error)
	// ListDisksInStorageDomain lists the image disks of one domain.
	ListDisksInStorageDomain(ctx context.Context, sdID string) ([]model.Disk, error)
	InsertDisk(ctx context.Context, d model.Disk) error
	UpdateDisk(ctx context.Context, d model.Disk) error
	DeleteDisk(ctx context.Context, id string) error
}

// Attachments persists disk attachments: one per (VM, disk); a disk that is
// not shareable has at most one.
type Attachments interface {
	GetAttachment(ctx context.Context, vmID, diskID string) (model.DiskAttachment, error)
	ListAttachmentsOfVM(ctx context.Context, vmID string) ([]model.DiskAttachment, error)
	ListAttachmentsOfDisk(ctx context.Context, diskID string) ([]model.DiskAttachment, error)
	InsertAttachment(ctx context.Context, a model.DiskAttachment) error
	UpdateAttachment(ctx context.Context, a model.DiskAttachment) error
	DeleteAttachment(ctx context.Context, vmID, diskID string) error
}

// SCSIPolicies persists custom SCSI command policies; names are unique.
type SCSIPolicies interface {
	GetSCSIPolicy(ctx context.Context, id string) (model.SCSIPolicy, error)
	GetSCSIPolicyByName(ctx context.Context, name string) (model.SCSIPolicy, error)
	ListSCSIPolicies(ctx context.Context, o ListOptions) ([]model.SCSIPolicy, error)
	InsertSCSIPolicy(ctx context.Context, p model.SCSIPolicy) error
	UpdateSCSIPolicy(ctx context.Context, p model.SCSIPolicy) error
	DeleteSCSIPolicy(ctx context.Context, id string) error
}

// Devices persists VM device rows. (VMID, ID) is the key; a drive address is
// unique among one VM's plugged devices.
type Devices interface {
	GetDevice(ctx context.Context, vmID, id string) (model.VmDevice, error)
	ListDevicesOfVM(ctx context.Context, vmID string) ([]model.VmDevice, error)
	// VMsWithDevice tells which VMs have a device row of kind device (all
	// VMs when vmID is empty, else only that one), so that listing VMs
	// costs one query, not one per VM.
	VMsWithDevice(ctx context.Context, device, vmID string) (map[string]bool, error)
	InsertDevice(ctx context.Context, d model.VmDevice) error
	UpdateDevice(ctx context.Context, d model.VmDevice) error
	DeleteDevice(ctx context.Context, vmID, id string) error
}

// Events persists the audit log.
type Events interface {
	// InsertEvent assigns the event's ID.
	InsertEvent(ctx context.Context, e model.AuditEvent) (int64, error)
	// ListEvents returns events newest first; since > 0 returns only newer ids.
	ListEvents(ctx context.Context, since int64, max int) ([]model.AuditEvent, error)
}

// Config persists engine configuration values per compatibility version,
// like oVirt's vdc_options ("general" for version-independent values).
type Config interface {
	GetConfig(ctx context.Context, key, version string) (string, error)
	SetConfig(ctx context.Context, key, version, value string) error
	ListConfig(ctx context.Context) ([]ConfigValue, error)
}

// ConfigValue is one configuration value.
type ConfigValue struct {
	Key     string
	Version string
	Value   string
	Updated time.Time
}
