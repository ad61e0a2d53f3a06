// Package vmspec is the contract between the engine and a host agent: the
// complete, already-decided description of a VM the agent must run. The
// engine fills it (addresses, names, serials, aliases are all chosen there);
// the agent only renders it into libvirt XML and never decides anything.
package vmspec

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// VirtType is libvirt's domain type: kvm on real hosts, qemu (TCG) where
// hardware virtualization is missing or unusable, as in nested test machines.
type VirtType string

// Virtualization types the agent accepts.
const (
	VirtKVM  VirtType = "kvm"
	VirtQEMU VirtType = "qemu"
)

// DefaultMachine is i440fx, govirt's default machine type.
const DefaultMachine = "pc"

// VM is everything a host needs to start a guest.
type VM struct {
	ID        string     `json:"id"`   // the engine's VM id (a UUID); also the libvirt domain UUID
	Name      string     `json:"name"` // libvirt domain name
	MemoryMiB uint64     `json:"memory_mib,omitempty"`
	VCPUs     uint32     `json:"vcpus,omitempty"`
	VirtType  VirtType   `json:"virt_type,omitempty"`
	Machine   string     `json:"machine,omitempty"` // "pc" when empty
	Boot      DirectBoot `json:"boot,omitempty"`
	IOThreads uint32     `json:"io_threads,omitempty"`

	// Controllers are the VM's virtio-scsi controllers, from the engine's
	// device rows. Disks on bus scsi must reference one of them.
	Controllers []Controller `json:"controllers,omitempty"`
	Disks       []Disk       `json:"disks,omitempty"`

	// Optional PCI devices: the engine counts PCI slots from exactly these.
	GuestAgent bool `json:"guest_agent,omitempty"` // virtio-serial controller plus the org.qemu.guest_agent.0 channel
	Balloon    bool `json:"balloon,omitempty"`     // virtio memballoon
	Video      bool `json:"video,omitempty"`       // a VGA adapter
	USB        bool `json:"usb,omitempty"`         // PIIX3 UHCI (a function of the ISA bridge slot, no slot of its own)
}

// DirectBoot boots a kernel and initrd from files on the host instead of a disk.
type DirectBoot struct {
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// Enabled tells whether the VM boots directly from a kernel.
func (b DirectBoot) Enabled() bool { return b.Kernel != "" }

// Controller is one virtio-scsi controller.
type Controller struct {
	Index    uint16 `json:"index"`
	Queues   uint32 `json:"queues,omitempty"`    // 0: QEMU's default
	IOThread uint32 `json:"io_thread,omitempty"` // 0: none; otherwise 1..VM.IOThreads
}

// Bus is a disk's bus as libvirt names it.
type Bus string

// Buses govirt renders.
const (
	BusSCSI   Bus = "scsi"
	BusVirtIO Bus = "virtio"
	BusIDE    Bus = "ide"
	BusSATA   Bus = "sata"
)

// Device is how the guest sees a disk.
type Device string

// Devices govirt renders: an emulated disk, a pass-through LUN, a CD-ROM.
const (
	DeviceDisk  Device = "disk"
	DeviceLUN   Device = "lun"
	DeviceCDROM Device = "cdrom"
)

// Format is a volume's image format.
type Format string

// Image formats.
const (
	FormatRaw   Format = "raw"
	FormatQCOW2 Format = "qcow2"
)

// SGIO is libvirt's sgio attribute for device='lun'.
type SGIO string

// sgio values; empty means the attribute is absent.
const (
	SGIOFiltered   SGIO = "filtered"
	SGIOUnfiltered SGIO = "unfiltered"
)

// Disk is one disk as the guest will see it.
type Disk struct {
	ID        string             `json:"id"` // engine disk id; alias ua-<ID>
	Bus       Bus                `json:"bus,omitempty"`
	Device    Device             `json:"device,omitempty"`
	TargetDev string             `json:"target_dev,omitempty"` // e.g. "sda": libvirt needs it unique, the guest names disks itself
	Address   *scsi.DriveAddress `json:"address,omitempty"`    // required on bus scsi, absent otherwise
	Serial    string             `json:"serial,omitempty"`     // the disk id for images; empty for pass-through LUNs

	File  *FileSource  `json:"file,omitempty"`  // an image volume in a storage domain
	ISCSI *ISCSISource `json:"iscsi,omitempty"` // a LUN reached through QEMU's own iSCSI initiator
	// Neither File nor ISCSI: an empty CD-ROM drive.

	BootOrder    uint32 `json:"boot_order,omitempty"` // 0: not bootable
	ReadOnly     bool   `json:"read_only,omitempty"`
	Shareable    bool   `json:"shareable,omitempty"`
	Discard      bool   `json:"discard,omitempty"` // pass discard (unmap) through
	Cache        string `json:"cache,omitempty"`   // libvirt cache mode; "none" when empty
	SGIO         SGIO   `json:"sgio,omitempty"`
	RawIO        bool   `json:"raw_io,omitempty"`
	Reservations bool   `json:"reservations,omitempty"` // <reservations managed='yes'/>: libvirt runs qemu-pr-helper
	ErrorPolicy  string `json:"error_policy,omitempty"` // libvirt error_policy ("stop", "report", "enospace"); empty: libvirt's default
	// SCSIPolicy, on a pass-through iSCSI LUN, makes the agent run an iSCSI
	// proxy enforcing it between QEMU and the target (docs/SCSI-POLICY.md).
	// Nil: QEMU connects to the target itself and nothing filters.
	SCSIPolicy *scsipolicy.Spec `json:"scsi_policy,omitempty"`
}

// Alias is the libvirt alias that maps a live device back to the engine's.
func (d Disk) Alias() string { return AliasPrefix + d.ID }

// AliasPrefix marks user aliases; libvirt only keeps aliases with it.
const AliasPrefix = "ua-"

// FileSource is a volume inside a storage domain directory. The agent joins
// them itself and refuses volume ids that would leave the domain.
type FileSource struct {
	DomainDir string `json:"domain_dir,omitempty"` // absolute directory of the storage domain on this host
	VolumeID  string `json:"volume_id,omitempty"`
	Format    Format `json:"format,omitempty"`
}

// ISCSISource is one LUN of an iSCSI target.
type ISCSISource struct {
	Host string `json:"host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	IQN  string `json:"iqn,omitempty"`
	LUN  uint32 `json:"lun,omitempty"`
}

// ErrInvalid marks a spec the agent refuses before touching libvirt.
var ErrInvalid = errors.New("invalid vm spec")

var (
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// VolumeIDPattern is what a volume id may look like: a plain file name.
	VolumeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ValidUUID reports whether s is a textual UUID.
func ValidUUID(s string) bool { return uuidRE.MatchString(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
