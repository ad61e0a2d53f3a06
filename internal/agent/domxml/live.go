package domxml

import (
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

// LiveDevice is a disk or controller as the running domain has it, read back
// from libvirt's live XML, so the engine can reconcile its device rows.
type LiveDevice struct {
	Alias     string // ua-<id> for devices the engine created
	Kind      string // "disk" or "controller"
	Bus       vmspec.Bus
	Device    vmspec.Device
	TargetDev string
	Address   *scsi.DriveAddress // drive address of scsi disks
	Index     uint16             // controller index
	Model     string             // controller model
	Source    string             // file path or iSCSI name, empty for an empty CD-ROM
}
