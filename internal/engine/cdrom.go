package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// CDROMID is the id of a VM's CD-ROM device, as oVirt's API names it.
const CDROMID = "00000000-0000-0000-0000-000000000000"

// cdrom returns the VM's CD-ROM device row, if it has one.
func (s *vmState) cdrom() (model.VmDevice, bool) {
	if d, ok := s.device(CDROMID); ok && d.Device == model.DeviceCDROM {
		return d, true
	}
	return model.VmDevice{}, false
}

// CDROM returns a VM's CD-ROM: an empty drive when it never had media.
func (e *Engine) CDROM(ctx context.Context, vmID string) (model.VmDevice, error) {
	var out model.VmDevice
	err := e.st.View(ctx, func(tx store.Tx) error {
		s, err := e.loadVM(ctx, tx, vmID, "view", apperr.TypeVM)
		if err != nil {
			return err
		}
		var ok bool
		if out, ok = s.cdrom(); !ok {
			out = model.VmDevice{ID: CDROMID, VMID: vmID, Type: model.DeviceTypeDisk, Device: model.DeviceCDROM}
		}
		return nil
	})
	return out, err
}

// SetCDROM inserts (file set) or ejects (file empty) a CD-ROM's media. file
// names an ISO in a storage domain of the VM's data center: "name.iso" when
// the data center has one domain, else "<domain name or id>/name.iso". On a
// running VM, current changes the running guest's drive (plugging a
// virtio-SCSI CD-ROM if it has none); otherwise the change is for the next
// run, as in oVirt.
func (e *Engine) SetCDROM(ctx context.Context, vmID, file string, current bool) (model.VmDevice, error) {
	const action = apperr.ActionUpdate
	unlock := e.locks.lock(vmID)
	var dev model.VmDevice
	var spec *vmspec.Disk
	var vm model.VM
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := e.lockVM(ctx, tx, vmID, action); err != nil {
			return err
		}
		s, err := e.loadVM(ctx, tx, vmID, action, apperr.TypeVM)
		if err != nil {
			return err
		}
		vm = s.vm
		media, sd, err := resolveISO(ctx, tx, s, file)
		if err != nil {
			return err
		}
		running := !s.vm.Status.IsDown()
		if running && current {
			if err := refuseWhileMigrating(s.vm, action, apperr.TypeVM); err != nil {
				return err
			}
		}
		if dev, err = e.ensureCDROM(ctx, tx, s, running && current); err != nil {
			return err
		}
		dev.Media = media
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		if running && current {
			d := cdromSpec(dev, sd)
			spec = &d
		}
		msg := fmt.Sprintf("CD %s was inserted into VM %s by %s.", file, s.vm.Name, Caller(ctx))
		if file == "" {
			msg = fmt.Sprintf("CD was ejected from VM %s by %s.", s.vm.Name, Caller(ctx))
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_CHANGE_DISK_VM", VMID: vmID, Message: msg})
	})
	unlock()
	if err != nil || spec == nil {
		return dev, err
	}
	h, err := e.vmHost(ctx, vm)
	if err == nil {
		err = h.ChangeMedia(ctx, vmID, *spec)
	}
	if err != nil {
		return dev, apperr.New(apperr.HostCallFailed, action, apperr.TypeVM, "detail", err.Error())
	}
	return dev, nil
}

// resolveISO finds the storage domain an ISO name refers to.
func resolveISO(ctx context.Context, tx store.Tx, s *vmState, file string) (string, model.StorageDomain, error) {
	const action = apperr.ActionUpdate
	if file == "" {
		return "", model.StorageDomain{}, nil
	}
	sdRef, name, hasDomain := strings.Cut(file, "/")
	if !hasDomain {
		name, sdRef = sdRef, ""
	}
	if !vmspec.VolumeIDPattern.MatchString(name) {
		return "", model.StorageDomain{}, badParam(action, apperr.TypeVM, "The ISO file name "+name+" is not valid.")
	}
	sds, err := tx.ListStorageDomains(ctx, store.ListOptions{})
	if err != nil {
		return "", model.StorageDomain{}, err
	}
	var found []model.StorageDomain
	for _, sd := range sds {
		if sd.DataCenterID != s.cluster.DataCenterID {
			continue
		}
		if sdRef == "" || sd.ID == sdRef || sd.Name == sdRef {
			found = append(found, sd)
		}
	}
	if len(found) != 1 {
		return "", model.StorageDomain{}, badParam(action, apperr.TypeVM,
			"Name the ISO as <storage domain>/<file> (the data center has "+fmt.Sprint(len(found))+" matching storage domains).")
	}
	return found[0].ID + "/" + name, found[0], nil
}

// ensureCDROM returns the VM's CD-ROM row, creating it on first use: on
// virtio-scsi when the VM has it (with an address of its own), else IDE.
func (e *Engine) ensureCDROM(ctx context.Context, tx store.Tx, s *vmState, live bool) (model.VmDevice, error) {
	if d, ok := s.cdrom(); ok {
		return d, nil
	}
	dev := model.VmDevice{ID: CDROMID, VMID: s.vm.ID, Type: model.DeviceTypeDisk, Device: model.DeviceCDROM,
		Alias: "ua-" + CDROMID, Plugged: true, Managed: true}
	if s.virtioSCSIEnabled() {
		alloc, err := s.allocator()
		if err != nil {
			return dev, err
		}
		addr, err := alloc.Plug(CDROMID, false)
		if err != nil {
			return dev, apperr.New(apperr.ExceededMaxVirtIOSCSIDisks, apperr.ActionUpdate, apperr.TypeVM)
		}
		dev.Address = &addr
		dev.TargetDev = s.rows.nextName(scsi.PrefixSCSI, "")
	} else {
		if live {
			return dev, apperr.New(apperr.HotPlugIDENotSupported, apperr.ActionUpdate, apperr.TypeVM)
		}
		dev.TargetDev = s.rows.nextName(scsi.PrefixIDE, "")
	}
	if err := tx.InsertDevice(ctx, dev); err != nil {
		return dev, err
	}
	s.setDevice(dev)
	return dev, nil
}

// cdromSpec is the agent's view of the CD-ROM.
func cdromSpec(dev model.VmDevice, sd model.StorageDomain) vmspec.Disk {
	d := vmspec.Disk{ID: dev.ID, Bus: vmspec.BusIDE, Device: vmspec.DeviceCDROM, TargetDev: dev.TargetDev, Address: dev.Address,
		ReadOnly: true, Serial: "cdrom"}
	if dev.Address != nil {
		d.Bus = vmspec.BusSCSI
	}
	if dev.Media != "" {
		_, file, _ := strings.Cut(dev.Media, "/")
		d.File = &vmspec.FileSource{DomainDir: sd.Path, VolumeID: file, Format: vmspec.FormatRaw}
	}
	return d
}
