package e2eutil

import (
	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/vmspec"
)

func agentVolume(dir, id string, sizeMiB uint64) agent.Volume {
	return agent.Volume{DomainDir: dir, VolumeID: id, Format: vmspec.FormatQCOW2, SizeBytes: sizeMiB << 20}
}

// SCSIDisk is an image disk on virtio-scsi controller 0 at (target, unit),
// with the disk id as serial, as the engine would describe it.
func SCSIDisk(dir, id, dev string, target, unit uint16) vmspec.Disk {
	return vmspec.Disk{
		ID: id, Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: dev,
		Address: &scsi.DriveAddress{Target: target, Unit: unit}, Serial: id,
		File: &vmspec.FileSource{DomainDir: dir, VolumeID: id, Format: vmspec.FormatQCOW2},
	}
}

// VirtIODisk is a virtio-blk image disk with the disk id as serial.
func VirtIODisk(dir, id, dev string) vmspec.Disk {
	return vmspec.Disk{
		ID: id, Bus: vmspec.BusVirtIO, Device: vmspec.DeviceDisk, TargetDev: dev, Serial: id,
		File: &vmspec.FileSource{DomainDir: dir, VolumeID: id, Format: vmspec.FormatQCOW2},
	}
}
