package engine

import (
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
)

// devicePrefix is the kernel name prefix of disks on an interface.
func devicePrefix(i model.DiskInterface) string {
	switch i {
	case model.InterfaceVirtIO:
		return scsi.PrefixVirtIO
	case model.InterfaceIDE:
		return scsi.PrefixIDE
	}
	return scsi.PrefixSCSI
}

// nextDeviceName returns the lowest free name with prefix. used holds the
// target devs of the VM's plugged devices; libvirt needs them unique.
func nextDeviceName(prefix string, used map[string]bool) string {
	for i := 0; ; i++ {
		if n := scsi.DeviceName(prefix, i); !used[n] {
			return n
		}
	}
}
