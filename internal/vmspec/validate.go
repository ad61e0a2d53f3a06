package vmspec

import (
	"strings"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// Validate checks what the agent must be able to rely on before it builds
// XML: ids, references between disks and controllers, and uniqueness of the
// names and addresses libvirt requires to be unique.
func (vm VM) Validate() error {
	if !ValidUUID(vm.ID) {
		return invalid("vm id %q is not a UUID", vm.ID)
	}
	if vm.Name == "" || len(vm.Name) > 255 || strings.ContainsAny(vm.Name, "/\x00\n") {
		return invalid("vm name %q", vm.Name)
	}
	if vm.MemoryMiB == 0 || vm.VCPUs == 0 {
		return invalid("vm %s needs memory and vCPUs", vm.Name)
	}
	switch vm.VirtType {
	case VirtKVM, VirtQEMU:
	default:
		return invalid("virt type %q", vm.VirtType)
	}
	controllers := map[uint16]bool{}
	for _, c := range vm.Controllers {
		if controllers[c.Index] {
			return invalid("duplicate scsi controller %d", c.Index)
		}
		controllers[c.Index] = true
		if c.IOThread > vm.IOThreads {
			return invalid("controller %d uses iothread %d of %d", c.Index, c.IOThread, vm.IOThreads)
		}
	}
	seenDev := map[string]bool{}
	seenID := map[string]bool{}
	seenAddr := map[scsi.DriveAddress]bool{}
	for _, d := range vm.Disks {
		if err := d.Validate(); err != nil {
			return err
		}
		if seenID[d.ID] {
			return invalid("duplicate disk %s", d.ID)
		}
		seenID[d.ID] = true
		if seenDev[d.TargetDev] {
			return invalid("duplicate target dev %s", d.TargetDev)
		}
		seenDev[d.TargetDev] = true
		if d.Address != nil {
			if !controllers[d.Address.Controller] {
				return invalid("disk %s on missing scsi controller %d", d.ID, d.Address.Controller)
			}
			if seenAddr[*d.Address] {
				return invalid("disk %s: address %s already used", d.ID, d.Address)
			}
			seenAddr[*d.Address] = true
		}
	}
	return nil
}

// Validate checks one disk on its own, as hot-plug needs.
func (d Disk) Validate() error {
	if !ValidUUID(d.ID) {
		return invalid("disk id %q is not a UUID", d.ID)
	}
	if d.TargetDev == "" || strings.ContainsAny(d.TargetDev, "/ \x00") {
		return invalid("disk %s: target dev %q", d.ID, d.TargetDev)
	}
	switch d.Bus {
	case BusSCSI:
		if d.Address == nil {
			return invalid("disk %s on scsi needs an explicit drive address", d.ID)
		}
		if err := d.Address.Validate(); err != nil {
			return invalid("disk %s: %v", d.ID, err)
		}
	case BusVirtIO, BusIDE, BusSATA:
		if d.Address != nil {
			return invalid("disk %s: drive addresses are for scsi disks", d.ID)
		}
	default:
		return invalid("disk %s: bus %q", d.ID, d.Bus)
	}
	if d.File != nil && d.ISCSI != nil {
		return invalid("disk %s has two sources", d.ID)
	}
	if d.File != nil {
		if !VolumeIDPattern.MatchString(d.File.VolumeID) {
			return invalid("disk %s: volume id %q", d.ID, d.File.VolumeID)
		}
		if d.File.Format != FormatRaw && d.File.Format != FormatQCOW2 {
			return invalid("disk %s: format %q", d.ID, d.File.Format)
		}
	}
	if s := d.ISCSI; s != nil {
		if s.Host == "" || s.IQN == "" || strings.ContainsAny(s.IQN, "/ \x00") || strings.ContainsAny(s.Host, "/ \x00") {
			return invalid("disk %s: iscsi source %s:%d %q", d.ID, s.Host, s.Port, s.IQN)
		}
	}
	switch d.Device {
	case DeviceDisk:
		if d.File == nil && d.ISCSI == nil {
			return invalid("disk %s has no source", d.ID)
		}
	case DeviceLUN:
		if d.ISCSI == nil || d.Bus != BusSCSI {
			return invalid("disk %s: pass-through needs an iscsi source on bus scsi", d.ID)
		}
		if d.ReadOnly {
			return invalid("disk %s: pass-through cannot be read-only", d.ID)
		}
	case DeviceCDROM:
		if d.Bus == BusVirtIO {
			return invalid("disk %s: a cdrom cannot be on virtio", d.ID)
		}
	default:
		return invalid("disk %s: device %q", d.ID, d.Device)
	}
	if d.SGIO != "" && d.Device != DeviceLUN {
		return invalid("disk %s: sgio is only for pass-through LUNs", d.ID)
	}
	if d.SGIO != "" && d.SGIO != SGIOFiltered && d.SGIO != SGIOUnfiltered {
		return invalid("disk %s: sgio %q", d.ID, d.SGIO)
	}
	if d.SCSIPolicy != nil {
		if d.Device != DeviceLUN || d.ISCSI == nil {
			return invalid("disk %s: a SCSI command policy is only for pass-through iSCSI LUNs", d.ID)
		}
		pol, err := scsipolicy.Resolve(*d.SCSIPolicy)
		if err != nil {
			return invalid("disk %s: %v", d.ID, err)
		}
		if d.Reservations && !pol.AdmitsReservations() {
			return invalid("disk %s uses SCSI reservations but its policy %q refuses PERSISTENT RESERVE IN/OUT", d.ID, pol.Name())
		}
	}
	return nil
}
