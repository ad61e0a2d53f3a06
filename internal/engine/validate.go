package engine

import (
	"regexp"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/osinfo"
	"github.com/govirt/govirt/internal/scsi"
)

// Limits of disks per VM by interface (oVirt's: one IDE and one SATA slot
// stay free for the CD-ROM).
const (
	MaxIDEDisks       = 3
	MaxSATADisks      = 5
	MaxIOThreads      = 16
	MaxSCSIQueues     = 16
	autoQueuesCeiling = 4
)

var nameRE = regexp.MustCompile(`^[\p{L}0-9._-]{1,255}$`)

func validateName(action apperr.Action, typ apperr.Type, name string) error {
	if !nameRE.MatchString(name) {
		return apperr.New(apperr.NameInvalid, action, typ, "name", name)
	}
	return nil
}

func badParam(action apperr.Action, typ apperr.Type, detail string) error {
	return apperr.New(apperr.BadParameter, action, typ, "detail", detail)
}

func lookupOS(action apperr.Action, typ apperr.Type, name string) (osinfo.OS, error) {
	if name == "" {
		name = osinfo.Default
	}
	o, ok := osinfo.Lookup(name)
	if !ok {
		return osinfo.OS{}, badParam(action, typ, "Unknown operating system "+name+".")
	}
	return o, nil
}

// attachmentRules checks how a disk may attach to a VM, before anything is
// written: the interface against the OS, the machine and the VM's
// controller, read-only, pass-through and SCSI reservation.
func attachmentRules(action apperr.Action, s *vmState, d model.Disk, a model.DiskAttachment) error {
	typ := apperr.TypeDisk
	o, err := lookupOS(action, typ, s.vm.OSType)
	if err != nil {
		return err
	}
	switch a.Interface {
	case model.InterfaceIDE, model.InterfaceVirtIO, model.InterfaceVirtIOSCSI:
	case model.InterfaceSATA, model.InterfaceSPAPRVSCSI:
		return badParam(action, typ, "The "+string(a.Interface)+" interface needs a machine type govirt does not run yet (i440fx has no "+string(a.Interface)+" controller).")
	default:
		return badParam(action, typ, "Unknown disk interface "+string(a.Interface)+".")
	}
	if !o.Supports(a.Interface) {
		return apperr.New(apperr.DiskInterfaceUnsupported, action, typ, "osName", o.Name)
	}
	if a.Interface == model.InterfaceVirtIOSCSI && !s.virtioSCSIEnabled() {
		return apperr.New(apperr.VirtIOSCSIDisabled, action, typ)
	}
	if a.ReadOnly && (a.Interface == model.InterfaceIDE || a.Interface == model.InterfaceSATA) {
		return apperr.New(apperr.InterfaceNoReadOnly, action, typ, "interface", string(a.Interface))
	}
	if a.ReadOnly && d.PassThrough() && a.Interface == model.InterfaceVirtIOSCSI {
		return apperr.New(apperr.PassThroughNotForReadOnly, action, typ)
	}
	if a.UsesSCSIReservation {
		if !d.PassThrough() || a.Interface != model.InterfaceVirtIOSCSI {
			return apperr.New(apperr.ReservationNeedsSCSIPassThrough, action, typ)
		}
		if d.SGIO != model.SGIOUnfiltered {
			return apperr.New(apperr.SGIOIsFiltered, action, typ)
		}
	}
	if a.Bootable {
		for other := range s.rows.attachments() {
			if other.Bootable && other.DiskID != a.DiskID {
				return apperr.New(apperr.OnlyOneBootDisk, action, typ)
			}
		}
	}
	return nil
}

// plugLimits checks that one more plugged disk on iface fits the VM: IDE and
// SATA slots, the virtio-scsi maximum, and exact PCI-slot accounting for
// virtio-blk, so that every accepted configuration can boot.
func plugLimits(action apperr.Action, s *vmState, iface model.DiskInterface) error {
	typ := apperr.TypeDisk
	switch iface {
	case model.InterfaceIDE:
		if s.countPlugged(iface) >= MaxIDEDisks {
			return apperr.New(apperr.ExceededMaxIDESlots, action, typ)
		}
	case model.InterfaceSATA:
		if s.countPlugged(iface) >= MaxSATADisks {
			return apperr.New(apperr.ExceededMaxSATASlots, action, typ)
		}
	case model.InterfaceVirtIOSCSI:
		if s.countPlugged(iface) >= scsi.MaxDisksPerVM {
			return apperr.New(apperr.ExceededMaxVirtIOSCSIDisks, action, typ)
		}
	case model.InterfaceVirtIO:
		if PCISlotsFree(s.pciDevices()) < 1 {
			return apperr.New(apperr.ExceededMaxPCISlots, action, typ)
		}
	}
	return nil
}

// sgioRules: only LUN disks have SG_IO.
func sgioRules(action apperr.Action, d model.Disk) error {
	if !d.IsLUN() && d.SGIO != model.SGIODisabled {
		return apperr.New(apperr.SGIONotForImageDisk, action, apperr.TypeDisk)
	}
	return nil
}
