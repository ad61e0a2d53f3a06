package api

import (
	"net/http"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
)

// agChangeCD is oVirt's CHANGE_VM_CD.
const agChangeCD = "CHANGE_VM_CD"

func cdromToWire(vmID string, d model.VmDevice) ovirt.Cdrom {
	_, file, _ := strings.Cut(d.Media, "/")
	return ovirt.Cdrom{ID: engine.CDROMID, Href: href("vms", vmID, "cdroms", engine.CDROMID), File: &ovirt.File{ID: file}, VM: ref("vms", vmID)}
}

func (s *Server) readCDROM(c *call) (model.VmDevice, error) {
	vmID := c.id("id")
	if _, err := s.readVM(c, vmID); err != nil {
		return model.VmDevice{}, err
	}
	if cid := c.id("cid"); cid != "" && cid != engine.CDROMID {
		return model.VmDevice{}, notFoundf("Entity not found: cdrom %s", cid)
	}
	return s.eng.CDROM(c.ctx, vmID)
}

func (s *Server) listCDROMs(c *call) (int, any, error) {
	d, err := s.readCDROM(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ovirt.Cdroms{Cdroms: []ovirt.Cdrom{cdromToWire(c.id("id"), d)}}, nil
}

func (s *Server) getCDROM(c *call) (int, any, error) {
	d, err := s.readCDROM(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cdromToWire(c.id("id"), d), nil
}

// updateCDROM inserts or ejects media: current=true changes the running
// guest's drive, otherwise the next run's, as in oVirt.
func (s *Server) updateCDROM(c *call) (int, any, error) {
	if _, err := s.readCDROM(c); err != nil {
		return 0, nil, err
	}
	var in ovirt.Cdrom
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	file := ""
	if in.File != nil {
		file = in.File.ID
	}
	d, err := s.eng.SetCDROM(c.ctx, c.id("id"), file, c.queryBool("current"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cdromToWire(c.id("id"), d), nil
}
