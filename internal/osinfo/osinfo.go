// Package osinfo is govirt's table of guest operating systems, after oVirt's
// osinfo: which disk interfaces each OS has drivers for and which of them it
// can hot-plug. Windows XP and RHEL 3 lack virtio-scsi drivers (the seed's
// Guest Support section), so VMs with them never get a virtio-scsi controller.
package osinfo

import (
	"slices"

	"github.com/govirt/govirt/internal/model"
)

// OS is one guest operating system.
type OS struct {
	ID          int    // oVirt's osinfo id
	Name        string // REST name, e.g. rhel_8x64
	Description string
	Family      string // Linux, Windows, Other
	Interfaces  []model.DiskInterface
	HotPlug     []model.DiskInterface
}

// Supports tells whether the OS has a driver for iface.
func (o OS) Supports(iface model.DiskInterface) bool { return slices.Contains(o.Interfaces, iface) }

// CanHotPlug tells whether the OS handles a disk on iface appearing live.
func (o OS) CanHotPlug(iface model.DiskInterface) bool { return slices.Contains(o.HotPlug, iface) }

// VirtIOSCSI tells whether the OS can use a virtio-scsi controller at all.
func (o OS) VirtIOSCSI() bool { return o.Supports(model.InterfaceVirtIOSCSI) }

var (
	modern    = []model.DiskInterface{model.InterfaceIDE, model.InterfaceVirtIO, model.InterfaceVirtIOSCSI, model.InterfaceSATA}
	noVSCSI   = []model.DiskInterface{model.InterfaceIDE, model.InterfaceVirtIO}
	ideOnly   = []model.DiskInterface{model.InterfaceIDE}
	hotModern = []model.DiskInterface{model.InterfaceVirtIO, model.InterfaceVirtIOSCSI}
	hotVirtIO = []model.DiskInterface{model.InterfaceVirtIO}
)

// table lists the operating systems, in oVirt's id order.
var table = []OS{
	{0, "other", "Other OS", "Other", modern, hotModern},
	{5, "other_linux", "Linux", "Linux", modern, hotModern},
	{9, "rhel_3", "Red Hat Enterprise Linux 3.x", "Linux", ideOnly, nil},
	{15, "rhel_3x64", "Red Hat Enterprise Linux 3.x x64", "Linux", ideOnly, nil},
	{8, "rhel_4", "Red Hat Enterprise Linux 4.x", "Linux", noVSCSI, hotVirtIO},
	{14, "rhel_4x64", "Red Hat Enterprise Linux 4.x x64", "Linux", noVSCSI, hotVirtIO},
	{7, "rhel_5", "Red Hat Enterprise Linux 5.x", "Linux", noVSCSI, hotVirtIO},
	{13, "rhel_5x64", "Red Hat Enterprise Linux 5.x x64", "Linux", noVSCSI, hotVirtIO},
	{18, "rhel_6", "Red Hat Enterprise Linux 6.x", "Linux", modern, hotModern},
	{19, "rhel_6x64", "Red Hat Enterprise Linux 6.x x64", "Linux", modern, hotModern},
	{24, "rhel_7x64", "Red Hat Enterprise Linux 7.x x64", "Linux", modern, hotModern},
	{33, "rhel_8x64", "Red Hat Enterprise Linux 8.x x64", "Linux", modern, hotModern},
	{36, "rhel_9x64", "Red Hat Enterprise Linux 9.x x64", "Linux", modern, hotModern},
	{1500, "debian", "Debian GNU/Linux", "Linux", modern, hotModern},
	{1252, "ubuntu", "Ubuntu", "Linux", modern, hotModern},
	{1, "windows_xp", "Windows XP", "Windows", noVSCSI, hotVirtIO},
	{3, "windows_2003", "Windows 2003", "Windows", modern, hotModern},
	{10, "windows_2003x64", "Windows 2003 x64", "Windows", modern, hotModern},
	{4, "windows_2008", "Windows 2008", "Windows", modern, hotModern},
	{16, "windows_2008x64", "Windows 2008 x64", "Windows", modern, hotModern},
	{17, "windows_2008r2x64", "Windows 2008 R2 x64", "Windows", modern, hotModern},
	{11, "windows_7", "Windows 7", "Windows", modern, hotModern},
	{12, "windows_7x64", "Windows 7 x64", "Windows", modern, hotModern},
	{20, "windows_8", "Windows 8", "Windows", modern, hotModern},
	{21, "windows_8x64", "Windows 8 x64", "Windows", modern, hotModern},
	{23, "windows_2012x64", "Windows 2012 x64", "Windows", modern, hotModern},
	{25, "windows_2012r2x64", "Windows 2012R2 x64", "Windows", modern, hotModern},
	{26, "windows_10", "Windows 10", "Windows", modern, hotModern},
	{27, "windows_10x64", "Windows 10 x64", "Windows", modern, hotModern},
	{29, "windows_2016x64", "Windows 2016 x64", "Windows", modern, hotModern},
	{31, "windows_2019x64", "Windows 2019 x64", "Windows", modern, hotModern},
	{34, "windows_2022", "Windows 2022", "Windows", modern, hotModern},
	{37, "windows_11", "Windows 11", "Windows", modern, hotModern},
}

// Default is the OS of a VM that names none.
const Default = "other"

// Lookup finds an OS by its REST name.
func Lookup(name string) (OS, bool) {
	for _, o := range table {
		if o.Name == name {
			return o, true
		}
	}
	return OS{}, false
}

// All returns every OS in table order.
func All() []OS { return slices.Clone(table) }
