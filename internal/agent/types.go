package agent

import (
	"errors"
	"time"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// State is a domain's run state as the agent reports it.
type State string

// Domain states, reduced from libvirt's to what the engine acts on.
const (
	StateRunning  State = "running"
	StatePaused   State = "paused"
	StateShutdown State = "shutting_down"
	StateShutoff  State = "shutoff"
	StateCrashed  State = "crashed"
	StateUnknown  State = "unknown"
)

// VMStatus is one VM this agent owns.
type VMStatus struct {
	ID    string
	Name  string
	State State
}

// LiveDevice is a disk or controller as the running domain has it; domxml
// parses it from libvirt's live XML.
type LiveDevice = domxml.LiveDevice

// LiveVM is the live view of one domain.
type LiveVM struct {
	VMStatus
	Devices []LiveDevice
	// Busy are the disks with a plug or unplug in progress on this agent,
	// read before Devices: the engine settles no interrupted change of
	// theirs until the host has finished it.
	Busy []string
}

// GuestDisk is a disk as the guest agent reports it.
type GuestDisk struct {
	Name    string // /dev/sda
	Serial  string // udev ID_SERIAL, e.g. 0QEMU_QEMU_HARDDISK_<serial>
	BusType string // scsi, virtio, ...
	Bus     uint32
	Target  uint32
	Unit    uint32
}

// ExecResult is the outcome of a command run in the guest.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
}

// Volume names one image volume in a storage domain directory.
type Volume struct {
	DomainDir string
	VolumeID  string
	Format    vmspec.Format
	SizeBytes uint64 // for create
}

// Errors the agent returns; callers test them with errors.Is.
var (
	// ErrNotFound: no domain owned by this agent has that id.
	ErrNotFound = errors.New("vm not found on this host")
	// ErrStarting: the VM is still being started (its disks attached in
	// stages), so its live devices are not yet what the engine sent.
	ErrStarting = errors.New("vm is still starting")
	// ErrAlreadyRunning: a domain with that id or name already runs.
	ErrAlreadyRunning = errors.New("vm already running")
	// ErrArgListTooLong: the kernel refused to run QEMU (E2BIG at execve):
	// the domain had more disks than its command line can carry here.
	ErrArgListTooLong = errors.New("QEMU's argument list is too long")
	// ErrPCISlotsExhausted: the machine type has no PCI slot left for a device.
	ErrPCISlotsExhausted = errors.New("no PCI slot available: the machine type's PCI bus is full")
	// ErrUnplugFailed: libvirt reported that the guest refused to release a device.
	ErrUnplugFailed = errors.New("device removal failed")
	// ErrUnplugTimeout: the guest did not release the device in time.
	ErrUnplugTimeout = errors.New("device removal timed out")
	// ErrGuestAgent: the guest agent is not connected or failed.
	ErrGuestAgent = errors.New("guest agent unavailable")
	// ErrPathEscape: a volume id or directory would leave its storage domain.
	ErrPathEscape = errors.New("path leaves the storage domain")
	// ErrDeviceNotFound: the live domain has no device with that alias.
	ErrDeviceNotFound = errors.New("device not found in the running vm")
	// ErrHostUnreachable: the call did not get an answer from the agent
	// (it stopped, or the network broke), so whether it took effect is
	// unknown until the host reports again.
	ErrHostUnreachable = errors.New("host agent unreachable")
)

// EventKind says what happened to a VM.
type EventKind string

// Event kinds the agent forwards to the engine.
const (
	EventLifecycle           EventKind = "lifecycle"
	EventDeviceRemoved       EventKind = "device_removed"
	EventDeviceRemovalFailed EventKind = "device_removal_failed"
)

// Event is something libvirt told the agent about one of its VMs.
type Event struct {
	VMID  string
	Kind  EventKind
	State State  // for lifecycle events
	Alias string // for device events
	Time  time.Time
}

// DefaultUnplugTimeout bounds how long hot-unplug waits for the guest.
const DefaultUnplugTimeout = 60 * time.Second

// MigrationTarget is what a destination agent prepared for an incoming live
// migration: where the source's libvirtd reaches the destination's, and the
// domain as the destination runs it (its own console path, LUN proxy ports
// and owner tag).
type MigrationTarget struct {
	URI       string
	DomainXML string
}

// Errors of live migration.
var (
	// ErrNoMigrationURI: the agent was started without --migration-uri, so
	// no peer can reach its libvirtd.
	ErrNoMigrationURI = errors.New("this host takes no incoming migrations: its agent has no migration URI")
	// ErrStorageNotShared: the destination does not see a disk's volume at
	// the path the source uses.
	ErrStorageNotShared = errors.New("volume not reachable at the same path on this host")
	// ErrMigrationFailed: libvirt refused or aborted the migration; the VM
	// still runs on the source.
	ErrMigrationFailed = errors.New("migration failed")
)
