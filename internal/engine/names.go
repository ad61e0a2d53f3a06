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
