package api

import (
	"context"
	"net/http"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
)

// SCSI command policies (/scsipolicies): govirt's extension of sgio. Every
// authenticated user may read them (a disk names its policy); defining,
// changing and removing one needs CONFIGURE_SCSI_GENERIC_IO on System.

func scsiPolicyToWire(p model.SCSIPolicy, builtIn bool) ovirt.SCSIPolicy {
	w := ovirt.SCSIPolicy{ID: p.ID, Href: href("scsipolicies", p.ID), Name: ovirt.Str(p.Name),
		Description: optStr(p.Description), Base: ovirt.Str(p.Base), BuiltIn: ovirt.B(builtIn)}
	if len(p.Allow) > 0 {
		w.Allow = &ovirt.Rules{Rules: p.Allow}
	}
	if len(p.Deny) > 0 {
		w.Deny = &ovirt.Rules{Rules: p.Deny}
	}
	return w
}

// policyOf names the policy a pass-through LUN is held to, and its id.
func (s *Server) policyOf(d model.Disk) (name, id string) {
	p, err := s.eng.EffectiveSCSIPolicy(context.Background(), d)
	if err != nil {
		return d.SCSIPolicy, d.SCSIPolicy
	}
	return p.Name, p.ID
}

func (s *Server) listSCSIPolicies(c *call) (int, any, error) {
	all, err := s.eng.ListSCSIPolicies(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	out := ovirt.SCSIPolicies{Policies: []ovirt.SCSIPolicy{}}
	for _, p := range all {
		out.Policies = append(out.Policies, scsiPolicyToWire(p, engine.IsBuiltinSCSIPolicy(p.ID)))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getSCSIPolicy(c *call) (int, any, error) {
	p, err := s.eng.GetSCSIPolicy(c.ctx, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, scsiPolicyToWire(p, engine.IsBuiltinSCSIPolicy(p.ID)), nil
}

// applySCSIPolicy copies what the body gives over p.
func applySCSIPolicy(in ovirt.SCSIPolicy, p *model.SCSIPolicy) {
	setStr(&p.Name, in.Name)
	setStr(&p.Description, in.Description)
	setStr(&p.Base, in.Base)
	if in.Allow != nil {
		p.Allow = in.Allow.Rules
	}
	if in.Deny != nil {
		p.Deny = in.Deny.Rules
	}
}

func (s *Server) addSCSIPolicy(c *call) (int, any, error) {
	var in ovirt.SCSIPolicy
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := required("SCSIPolicy", need{"name", in.Name != nil}, need{"base", in.Base != nil}); err != nil {
		return 0, nil, err
	}
	var p model.SCSIPolicy
	applySCSIPolicy(in, &p)
	p, err := s.eng.AddSCSIPolicy(c.ctx, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, scsiPolicyToWire(p, false), nil
}

func (s *Server) updateSCSIPolicy(c *call) (int, any, error) {
	if engine.IsBuiltinSCSIPolicy(c.id("id")) {
		return 0, nil, conflictf("The built-in SCSI policy %s cannot be changed.", c.id("id"))
	}
	p, err := s.eng.GetSCSIPolicy(c.ctx, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	var in ovirt.SCSIPolicy
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	applySCSIPolicy(in, &p)
	if p, err = s.eng.UpdateSCSIPolicy(c.ctx, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, scsiPolicyToWire(p, false), nil
}

func (s *Server) removeSCSIPolicy(c *call) (int, any, error) {
	if engine.IsBuiltinSCSIPolicy(c.id("id")) {
		return 0, nil, conflictf("The built-in SCSI policy %s cannot be removed.", c.id("id"))
	}
	return http.StatusOK, nil, s.eng.RemoveSCSIPolicy(c.ctx, c.id("id"))
}
