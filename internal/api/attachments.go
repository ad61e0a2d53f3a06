package api

import (
	"errors"
	"net/http"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// attachmentToWire is an attachment as the API shows it, its disk by
// reference.
func attachmentToWire(a model.DiskAttachment) ovirt.DiskAttachment {
	out := ovirt.DiskAttachment{
		ID: a.DiskID, Href: href("vms", a.VMID, "diskattachments", a.DiskID),
		Active: ovirt.B(a.Active), Bootable: ovirt.B(a.Bootable), Interface: ovirt.Str(string(a.Interface)),
		PassDiscard: ovirt.B(a.PassDiscard), ReadOnly: ovirt.B(a.ReadOnly), UsesSCSIReservation: ovirt.B(a.UsesSCSIReservation),
		Disk: &ovirt.Disk{ID: a.DiskID, Href: href("disks", a.DiskID)}, VM: ref("vms", a.VMID),
	}
	if a.LogicalName != "" {
		out.LogicalName = ovirt.Str(a.LogicalName)
	}
	return out
}

// attachParams reads an attachment; the deprecated interface and bootable
// inside <disk> count when the attachment does not say, as in oVirt.
func attachParams(in ovirt.DiskAttachment) (engine.AttachParams, error) {
	p := engine.AttachParams{Bootable: boolPtr(in.Bootable), PassDiscard: boolPtr(in.PassDiscard), ReadOnly: boolPtr(in.ReadOnly),
		UsesSCSIReservation: boolPtr(in.UsesSCSIReservation), Active: boolPtr(in.Active)}
	iface := in.Interface
	if in.Disk != nil {
		if iface == nil {
			iface = in.Disk.Interface
		}
		if p.Bootable == nil {
			p.Bootable = boolPtr(in.Disk.Bootable)
		}
	}
	if iface != nil {
		i, err := model.ParseDiskInterface(*iface)
		if err != nil {
			return p, badRequestf("disk_attachment.interface: %v", err)
		}
		p.Interface = &i
	}
	return p, nil
}

func (s *Server) listAttachments(c *call) (int, any, error) {
	vmID := c.id("id")
	if _, err := s.readVM(c, vmID); err != nil {
		return 0, nil, err
	}
	out := ovirt.DiskAttachments{DiskAttachments: []ovirt.DiskAttachment{}}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		atts, err := tx.ListAttachmentsOfVM(c.ctx, vmID)
		if err != nil {
			return err
		}
		for _, a := range atts {
			out.DiskAttachments = append(out.DiskAttachments, attachmentToWire(a))
		}
		return setAddresses(c, tx, vmID, out.DiskAttachments)
	})
	return http.StatusOK, out, err
}

func (s *Server) readAttachment(c *call) (ovirt.DiskAttachment, error) {
	if _, err := s.readVM(c, c.id("id")); err != nil {
		return ovirt.DiskAttachment{}, err
	}
	return s.attachmentAfterWrite(c, c.id("did"))
}

// attachmentAfterWrite reads an attachment of the call's VM in its wire
// form, for the answer to a write the caller was just authorized for (so
// without checking again that the VM is theirs to see).
func (s *Server) attachmentAfterWrite(c *call, diskID string) (ovirt.DiskAttachment, error) {
	vmID := c.id("id")
	var out ovirt.DiskAttachment
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		a, err := tx.GetAttachment(c.ctx, vmID, diskID)
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("Entity not found: disk attachment %s", diskID)
		}
		if err != nil {
			return err
		}
		out = attachmentToWire(a)
		dev, err := tx.GetDevice(c.ctx, vmID, diskID)
		if err == nil && dev.Type == model.DeviceTypeDisk && dev.Address != nil {
			out.Address = ovirt.Str(dev.Address.String())
		}
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return err
	})
	return out, err
}

func (s *Server) getAttachment(c *call) (int, any, error) {
	a, err := s.readAttachment(c)
	return http.StatusOK, a, err
}

// addAttachment attaches an existing disk (by id) or creates the disk the
// body describes and attaches it (the engine checks the attachment before
// creating the disk, so a refused request changes nothing).
func (s *Server) addAttachment(c *call) (int, any, error) {
	var in ovirt.DiskAttachment
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Disk == nil {
		return 0, nil, badRequestf("disk_attachment.disk is required: an existing disk's id or a new disk.")
	}
	p, err := attachParams(in)
	if err != nil {
		return 0, nil, err
	}
	vmID := c.id("id")
	diskID := in.Disk.ID
	if diskID != "" {
		if err := c.require(agAttachDisk, Object{Type: "disk", ID: diskID}); err != nil {
			return 0, nil, err
		}
		a, addr, err := s.eng.AttachDiskAt(c.ctx, vmID, diskID, p)
		if err != nil {
			return 0, nil, err
		}
		// Answered from what the engine wrote: reading it back took a
		// transaction of three queries, a fifth of the request.
		out := attachmentToWire(a)
		if addr != nil {
			out.Address = ovirt.Str(addr.String())
		}
		return http.StatusCreated, out, nil
	}
	dp, err := s.diskParams(c, *in.Disk)
	if err != nil {
		return 0, nil, err
	}
	if err := c.checkNewDisk(dp); err != nil {
		return 0, nil, err
	}
	created, err := s.eng.AddDiskAndAttach(c.ctx, vmID, dp, p)
	if err != nil {
		return 0, nil, err
	}
	a, err := s.attachmentAfterWrite(c, created.DiskID)
	return http.StatusCreated, a, err
}

// updateAttachment changes an attachment; <active> plugs or unplugs.
func (s *Server) updateAttachment(c *call) (int, any, error) {
	var in ovirt.DiskAttachment
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := attachParams(in)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.eng.UpdateAttachment(c.ctx, c.id("id"), c.id("did"), p); err != nil {
		return 0, nil, err
	}
	a, err := s.attachmentAfterWrite(c, c.id("did"))
	return http.StatusOK, a, err
}

// removeAttachment detaches; without detach_only the disk is removed too,
// which needs the right to delete it.
func (s *Server) removeAttachment(c *call) (int, any, error) {
	detachOnly := c.queryBool("detach_only")
	if !detachOnly {
		if err := c.require(agDeleteDisk, Object{Type: "disk", ID: c.id("did")}); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, nil, s.eng.DetachDisk(c.ctx, c.id("id"), c.id("did"), !detachOnly)
}
