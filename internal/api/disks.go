package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// diskToWire renders a disk as oVirt's <disk>.
func (s *Server) diskToWire(d model.Disk) ovirt.Disk {
	base := href("disks", d.ID)
	out := ovirt.Disk{
		ID: d.ID, Href: base, Name: ovirt.Str(d.Alias), Alias: ovirt.Str(d.Alias), Description: ovirt.Str(d.Description),
		Status: ovirt.Str(string(d.Status)), StorageType: ovirt.Str(string(d.StorageType)),
		Shareable: ovirt.B(d.Shareable), PropagateErrors: ovirt.B(d.PropagateErrors),
		Links: links(base, "permissions"),
	}
	if d.IsLUN() {
		out.Sgio = ovirt.Str(d.SGIO.RESTValue())
		if d.PassThrough() {
			// The agent's iSCSI proxy enforces the policy (docs/SCSI-POLICY.md).
			name, id := s.policyOf(d)
			out.SgioEffective = ovirt.Str(name)
			out.SCSIPolicy = &ovirt.Ref{ID: id, Href: href("scsipolicies", id), Name: ovirt.Str(name)}
		}
		l := d.LUN
		out.LunStorage = &ovirt.HostStorage{Type: ovirt.Str("iscsi"), LogicalUnits: &ovirt.LogicalUnits{LogicalUnits: []ovirt.LogicalUnit{{
			ID: l.LunID, Address: ovirt.Str(l.Address), Port: ovirt.I(int64(l.Port)), Target: ovirt.Str(l.Target),
			LunMapping: ovirt.I(int64(l.LunMapping)), Serial: optStr(l.Serial), VendorID: optStr(l.Vendor), ProductID: optStr(l.Product),
		}}}}
		return out
	}
	out.Format = ovirt.Str(string(d.Format))
	out.ProvisionedSize = ovirt.I(d.ProvisionedSize)
	out.StorageDomains = &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{ID: d.StorageDomainID, Href: href("storagedomains", d.StorageDomainID)}}}
	return out
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// diskParams turns a wire disk into engine parameters (nil: absent).
func (s *Server) diskParams(c *call, in ovirt.Disk) (engine.DiskParams, error) {
	p := engine.DiskParams{Description: in.Description, Shareable: boolPtr(in.Shareable), PropagateErrors: boolPtr(in.PropagateErrors)}
	p.Alias = in.Alias
	if in.Name != nil {
		p.Alias = in.Name
	}
	if in.Format != nil {
		f, err := model.ParseDiskFormat(*in.Format)
		if err != nil {
			return p, badRequestf("disk.format: %v", err)
		}
		p.Format = &f
	}
	if in.ProvisionedSize != nil {
		n := int64(*in.ProvisionedSize)
		p.ProvisionedSize = &n
	}
	if in.Sgio != nil {
		v, err := model.ParseScsiGenericIO(*in.Sgio)
		if err != nil {
			return p, badRequestf("disk.sgio: %v", err)
		}
		p.SGIO = &v
	}
	if in.SCSIPolicy != nil {
		if in.SCSIPolicy.Name == nil && in.SCSIPolicy.ID == "" {
			return p, badRequestf("disk.scsi_policy needs a name.")
		}
		name := in.SCSIPolicy.ID
		if in.SCSIPolicy.Name != nil {
			name = *in.SCSIPolicy.Name
		} else if pol, err := s.eng.GetSCSIPolicy(c.ctx, name); err == nil {
			name = pol.Name
		}
		p.SCSIPolicy = &name
	}
	if in.StorageDomains != nil && len(in.StorageDomains.StorageDomains) > 0 {
		sd := in.StorageDomains.StorageDomains[0]
		id, err := s.resolveStorageDomain(c, sd.ID, sd.Name)
		if err != nil {
			return p, err
		}
		p.StorageDomainID = &id
	}
	if in.LunStorage != nil {
		lun, err := lunOf(in.LunStorage)
		if err != nil {
			return p, err
		}
		p.LUN = lun
	}
	return p, nil
}

func boolPtr(b *ovirt.Bool) *bool {
	if b == nil {
		return nil
	}
	v := bool(*b)
	return &v
}

// lunOf reads oVirt's lun_storage: one iSCSI logical unit.
func lunOf(h *ovirt.HostStorage) (*model.ISCSILun, error) {
	if h.Type != nil && !strings.EqualFold(*h.Type, "iscsi") {
		return nil, badRequestf("Only iSCSI direct LUNs are supported, not %q.", *h.Type)
	}
	if h.LogicalUnits == nil || len(h.LogicalUnits.LogicalUnits) != 1 {
		return nil, badRequestf("lun_storage needs exactly one logical_unit.")
	}
	u := h.LogicalUnits.LogicalUnits[0]
	if u.Address == nil || u.Target == nil || u.LunMapping == nil {
		return nil, badRequestf("A logical_unit needs address, target and lun_mapping.")
	}
	l := &model.ISCSILun{Address: *u.Address, Target: *u.Target, LunMapping: int(*u.LunMapping), Port: 3260, LunID: u.ID}
	if u.Port != nil {
		l.Port = int(*u.Port)
	}
	if u.Serial != nil {
		l.Serial = *u.Serial // the LUN's own identity: guests report it
	}
	if l.LunID == "" {
		l.LunID = l.Target + ":" + l.Address + ":" + itoa(l.LunMapping)
	}
	return l, nil
}

// resolveStorageDomain finds a storage domain by id or name.
func (s *Server) resolveStorageDomain(c *call, id string, name *string) (string, error) {
	var out string
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		if id != "" {
			sd, err := tx.GetStorageDomain(c.ctx, id)
			out = sd.ID
			return err
		}
		if name == nil {
			return store.ErrNotFound
		}
		sds, err := tx.ListStorageDomains(c.ctx, store.ListOptions{Name: *name})
		for _, sd := range sds {
			if sd.Name == *name {
				out = sd.ID
			}
		}
		if err == nil && out == "" {
			err = store.ErrNotFound
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		label := id
		if name != nil {
			label = *name
		}
		return "", notFoundf("Entity not found: storage domain %s", label)
	}
	return out, err
}

// checkNewDisk enforces who may create a disk: CREATE_DISK on its storage
// domain (System for a LUN) and, for unfiltered SG_IO, the right to
// manipulate SCSI I/O privileges at System level.
func (c *call) checkNewDisk(p engine.DiskParams) error {
	obj := System
	if p.LUN == nil && p.StorageDomainID != nil {
		obj = Object{Type: "storage_domain", ID: *p.StorageDomainID}
	}
	if err := c.require(agCreateDisk, obj); err != nil {
		return err
	}
	if privilegedSCSI(p) {
		return c.require(agConfigureSGIO, System)
	}
	return nil
}

// privilegedSCSI tells whether parameters give a LUN more than the filtered
// command set: unfiltered sgio, or any policy but filtered.
func privilegedSCSI(p engine.DiskParams) bool {
	return p.SGIO != nil && *p.SGIO == model.SGIOUnfiltered || p.SCSIPolicy != nil && *p.SCSIPolicy != "filtered"
}

func (s *Server) addDisk(c *call) (int, any, error) {
	var in ovirt.Disk
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := s.diskParams(c, in)
	if err != nil {
		return 0, nil, err
	}
	if err := c.checkNewDisk(p); err != nil {
		return 0, nil, err
	}
	d, err := s.eng.AddDisk(c.ctx, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.diskToWire(d), nil
}

func (s *Server) readDisk(c *call, id string) (model.Disk, error) {
	var d model.Disk
	if ok, err := c.visible(Object{Type: "disk", ID: id}); err != nil || !ok {
		if err != nil {
			return d, err
		}
		return d, notFoundf("Entity not found: disk %s", id)
	}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.GetDisk(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("Entity not found: disk %s", id)
		}
		return err
	})
	return d, err
}

func (s *Server) getDisk(c *call) (int, any, error) {
	d, err := s.readDisk(c, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.diskToWire(d), nil
}

func (s *Server) listDisks(c *call) (int, any, error) {
	o, err := c.listOptions()
	if err != nil {
		return 0, nil, err
	}
	var disks []model.Disk
	if err := s.st.View(c.ctx, func(tx store.Tx) error {
		disks, err = tx.ListDisks(c.ctx, store.ListOptions{Name: o.Name})
		return err
	}); err != nil {
		return 0, nil, err
	}
	shown, err := keepPage(c, disks, o.Max, func(d model.Disk) []Object { return []Object{{Type: "disk", ID: d.ID}} })
	if err != nil {
		return 0, nil, err
	}
	out := ovirt.Disks{Disks: make([]ovirt.Disk, 0, len(shown))}
	for _, d := range shown {
		out.Disks = append(out.Disks, s.diskToWire(d))
	}
	return http.StatusOK, out, nil
}

func (s *Server) updateDisk(c *call) (int, any, error) {
	var in ovirt.Disk
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := s.diskParams(c, in)
	if err != nil {
		return 0, nil, err
	}
	if p.SGIO != nil || p.SCSIPolicy != nil {
		// Any change of what SCSI commands pass needs
		// CONFIGURE_SCSI_GENERIC_IO.
		cur, err := s.readDisk(c, c.id("id"))
		if err != nil {
			return 0, nil, err
		}
		// oVirt checks a change of sgio on the disk; a custom policy
		// (govirt's extension) is an administrator's System-level matter.
		obj := Object{Type: "disk", ID: cur.ID}
		if p.SCSIPolicy != nil && *p.SCSIPolicy != "filtered" && *p.SCSIPolicy != "unfiltered" {
			obj = System
		}
		curName, _ := s.policyOf(cur)
		changed := p.SGIO != nil && *p.SGIO != cur.SGIO || p.SCSIPolicy != nil && *p.SCSIPolicy != curName
		if changed {
			if err := c.require(agConfigureSGIO, obj); err != nil {
				return 0, nil, err
			}
		}
	}
	d, err := s.eng.UpdateDisk(c.ctx, c.id("id"), p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.diskToWire(d), nil
}

func (s *Server) removeDisk(c *call) (int, any, error) {
	return http.StatusOK, nil, s.eng.RemoveDisk(c.ctx, c.id("id"))
}
