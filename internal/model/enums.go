package model

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownValue reports an enum spelling govirt does not know.
var ErrUnknownValue = errors.New("unknown value")

// DiskInterface is how a disk attaches to a VM; it lives on the attachment
// (the seed's Future Work, done in oVirt 4.0), not on the disk.
type DiskInterface string

// Disk interfaces, spelled as the REST API spells them.
const (
	InterfaceIDE        DiskInterface = "ide"
	InterfaceVirtIO     DiskInterface = "virtio"
	InterfaceVirtIOSCSI DiskInterface = "virtio_scsi"
	InterfaceSATA       DiskInterface = "sata"
	InterfaceSPAPRVSCSI DiskInterface = "spapr_vscsi"
)

// DiskInterfaces lists every interface in a stable order.
var DiskInterfaces = []DiskInterface{InterfaceIDE, InterfaceVirtIO, InterfaceVirtIOSCSI, InterfaceSATA, InterfaceSPAPRVSCSI}

// ParseDiskInterface accepts the REST spelling in any case.
func ParseDiskInterface(s string) (DiskInterface, error) {
	return parseEnum(s, DiskInterfaces, "disk interface")
}

// ScsiGenericIO is a LUN disk's SG_IO mode. Empty means pass-through off
// (the REST value "disabled"); image disks never have one.
type ScsiGenericIO string

// SG_IO modes.
const (
	SGIODisabled   ScsiGenericIO = ""
	SGIOFiltered   ScsiGenericIO = "filtered"
	SGIOUnfiltered ScsiGenericIO = "unfiltered"
)

// ParseScsiGenericIO accepts filtered, unfiltered and disabled (= off).
func ParseScsiGenericIO(s string) (ScsiGenericIO, error) {
	if strings.EqualFold(strings.TrimSpace(s), "disabled") {
		return SGIODisabled, nil
	}
	return parseEnum(s, []ScsiGenericIO{SGIOFiltered, SGIOUnfiltered}, "sgio")
}

// RESTValue is the API spelling, with "disabled" for off.
func (s ScsiGenericIO) RESTValue() string {
	if s == SGIODisabled {
		return "disabled"
	}
	return string(s)
}

// DiskStorageType separates image disks (volumes in a storage domain) from
// direct LUNs.
type DiskStorageType string

// Disk storage types.
const (
	StorageImage DiskStorageType = "image"
	StorageLUN   DiskStorageType = "lun"
)

// DiskFormat is an image's format: cow is qcow2.
type DiskFormat string

// Disk formats.
const (
	FormatCow DiskFormat = "cow"
	FormatRaw DiskFormat = "raw"
)

// ParseDiskFormat accepts cow and raw.
func ParseDiskFormat(s string) (DiskFormat, error) {
	return parseEnum(s, []DiskFormat{FormatCow, FormatRaw}, "disk format")
}

// DiskStatus is an image's state: locked while a host creates it.
type DiskStatus string

// Disk statuses.
const (
	DiskOK      DiskStatus = "ok"
	DiskLocked  DiskStatus = "locked"
	DiskIllegal DiskStatus = "illegal"
)

// VMStatus follows oVirt's VmStatus.
type VMStatus string

// VM statuses.
const (
	VMDown          VMStatus = "down"
	VMWaitForLaunch VMStatus = "wait_for_launch"
	VMPoweringUp    VMStatus = "powering_up"
	VMUp            VMStatus = "up"
	VMPoweringDown  VMStatus = "powering_down"
	VMPaused        VMStatus = "paused"
	VMNotResponding VMStatus = "not_responding"
	VMUnknown       VMStatus = "unknown"
	VMImageLocked   VMStatus = "image_locked"
	// VMMigrating: the VM runs on its host and is being live-migrated to
	// another (oVirt's REST API shows migrating_from and migrating_to so).
	VMMigrating VMStatus = "migrating"
)

// IsDown tells whether the VM runs nowhere: only then may changes that need
// a restart be made.
func (s VMStatus) IsDown() bool { return s == VMDown || s == "" }

// IsRunning tells whether the VM has a live domain on a host.
func (s VMStatus) IsRunning() bool {
	switch s {
	case VMUp, VMPoweringUp, VMPoweringDown, VMPaused, VMNotResponding, VMWaitForLaunch, VMMigrating:
		return true
	}
	return false
}

// HostStatus follows oVirt's host status.
type HostStatus string

// Host statuses.
const (
	HostUp            HostStatus = "up"
	HostConnecting    HostStatus = "connecting"
	HostNonResponsive HostStatus = "non_responsive"
	HostMaintenance   HostStatus = "maintenance"
	HostDown          HostStatus = "down"
	HostInstalling    HostStatus = "installing"
)

func parseEnum[T ~string](s string, valid []T, what string) (T, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range valid {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s %q", ErrUnknownValue, what, s)
}
