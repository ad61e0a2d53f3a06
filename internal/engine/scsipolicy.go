package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// SCSI command policies (docs/SCSI-POLICY.md): every pass-through LUN has
// one. oVirt's sgio names the two built-in ones, filtered and unfiltered;
// a disk may instead name a custom policy, which administrators holding
// CONFIGURE_SCSI_GENERIC_IO define. The agent enforces the policy in the
// data path (an iSCSI proxy per LUN), so a change reaches a running guest
// at once.

// specOf is the scsipolicy form of a stored policy.
func specOf(p model.SCSIPolicy) scsipolicy.Spec {
	return scsipolicy.Spec{Name: p.Name, Description: p.Description, Base: scsipolicy.Base(p.Base), Allow: p.Allow, Deny: p.Deny}
}

// BuiltinSCSIPolicies are the policies oVirt's sgio values name; they are
// not stored and cannot change.
func BuiltinSCSIPolicies() []model.SCSIPolicy {
	return []model.SCSIPolicy{
		{ID: scsipolicy.NameFiltered, Name: scsipolicy.NameFiltered, Base: string(scsipolicy.BaseFiltered),
			Description: "The commands Linux lets unprivileged SG_IO users send: reads, writes, inquiry, mode sense, read capacity, report luns, ..."},
		{ID: scsipolicy.NameUnfiltered, Name: scsipolicy.NameUnfiltered, Base: string(scsipolicy.BaseUnfiltered),
			Description: "Every command, persistent reservations and vendor commands included."},
	}
}

// validatePolicy checks a custom policy's name and rules.
func validatePolicy(action apperr.Action, p model.SCSIPolicy) error {
	if _, err := scsipolicy.Compile(specOf(p)); err != nil {
		return apperr.New(apperr.SCSIPolicyInvalid, action, apperr.TypeSCSIPolicy, "detail", strings.TrimPrefix(err.Error(), scsipolicy.ErrInvalid.Error()+": "))
	}
	return nil
}

// ListSCSIPolicies lists the built-in policies, then the custom ones by name.
func (e *Engine) ListSCSIPolicies(ctx context.Context) ([]model.SCSIPolicy, error) {
	out := BuiltinSCSIPolicies()
	err := e.st.View(ctx, func(tx store.Tx) error {
		custom, err := tx.ListSCSIPolicies(ctx, store.ListOptions{})
		out = append(out, custom...)
		return err
	})
	return out, err
}

// GetSCSIPolicy reads a policy by id (a built-in's id is its name).
func (e *Engine) GetSCSIPolicy(ctx context.Context, id string) (model.SCSIPolicy, error) {
	for _, b := range BuiltinSCSIPolicies() {
		if b.ID == id {
			return b, nil
		}
	}
	var p model.SCSIPolicy
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.GetSCSIPolicy(ctx, id)
		return mapNotFound(err, apperr.ActionUpdate, apperr.TypeSCSIPolicy, id)
	})
	return p, err
}

// AddSCSIPolicy defines a custom policy.
func (e *Engine) AddSCSIPolicy(ctx context.Context, p model.SCSIPolicy) (model.SCSIPolicy, error) {
	const action = apperr.ActionAdd
	p.ID, p.CreatedAt = e.newID(), e.now()
	if err := validatePolicy(action, p); err != nil {
		return p, err
	}
	return p, e.st.Tx(ctx, func(tx store.Tx) error {
		if err := insertNamed(tx.InsertSCSIPolicy(ctx, p), action, apperr.TypeSCSIPolicy, p.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_ADD_SCSI_POLICY",
			Message: fmt.Sprintf("SCSI policy %s was added by %s.", p.Name, Caller(ctx))})
	})
}

// EnsureSCSIPolicyPresets defines the presets ("reservations", "trim") on
// an engine that has none of that name yet, so administrators start with
// the policies most clusters need.
func (e *Engine) EnsureSCSIPolicyPresets(ctx context.Context) error {
	for _, spec := range scsipolicy.Presets() {
		var exists bool
		if err := e.st.View(ctx, func(tx store.Tx) error {
			_, err := tx.GetSCSIPolicyByName(ctx, spec.Name)
			exists = err == nil
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
			return err
		}); err != nil {
			return err
		}
		if exists {
			continue
		}
		p := model.SCSIPolicy{Name: spec.Name, Description: spec.Description, Base: string(spec.Base), Allow: spec.Allow, Deny: spec.Deny}
		if _, err := e.AddSCSIPolicy(WithCaller(ctx, "system"), p); err != nil {
			return fmt.Errorf("preset SCSI policy %s: %w", spec.Name, err)
		}
	}
	return nil
}

// livePolicyTarget is a plugged LUN disk of a running VM whose proxy must
// learn a new policy.
type livePolicyTarget struct {
	vm   model.VM
	disk string
}

// liveTargets lists where the disks' policy is enforced right now. A VM
// that is migrating has its proxies on two hosts, so no policy changes then.
func liveTargets(ctx context.Context, tx store.Tx, action apperr.Action, typ apperr.Type, diskIDs []string) ([]livePolicyTarget, error) {
	var out []livePolicyTarget
	for _, id := range diskIDs {
		atts, err := tx.ListAttachmentsOfDisk(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, a := range atts {
			vm, err := tx.GetVM(ctx, a.VMID)
			if err != nil {
				return nil, err
			}
			dev, err := tx.GetDevice(ctx, a.VMID, id)
			if err != nil || vm.Status.IsDown() || !dev.Plugged || dev.Device != model.DeviceLUN {
				continue
			}
			if err := refuseWhileMigrating(vm, action, typ); err != nil {
				return nil, err
			}
			out = append(out, livePolicyTarget{vm: vm, disk: id})
		}
	}
	return out, nil
}

// pushPolicy gives each target's proxy the new policy; if one host fails,
// the targets already changed get the old policy back, and the error says
// which host failed.
func (e *Engine) pushPolicy(ctx context.Context, action apperr.Action, typ apperr.Type, targets []livePolicyTarget, next, prev func(diskID string) scsipolicy.Spec) error {
	for i, t := range targets {
		h, err := e.vmHost(ctx, t.vm)
		if err == nil {
			err = h.SetSCSIPolicy(ctx, t.vm.ID, t.disk, next(t.disk))
		}
		if err == nil {
			continue
		}
		for _, done := range targets[:i] {
			if h, herr := e.vmHost(ctx, done.vm); herr == nil {
				if rerr := h.SetSCSIPolicy(ctx, done.vm.ID, done.disk, prev(done.disk)); rerr != nil {
					e.log.Warn("SCSI policy left changed after a failed change elsewhere", "vm", done.vm.Name, "disk", done.disk, "err", rerr)
				}
			}
		}
		return apperr.New(apperr.HostCallFailed, action, typ, "detail", fmt.Sprintf("VM %s: %v", t.vm.Name, err))
	}
	return nil
}

// UpdateSCSIPolicy changes a custom policy; running guests whose disks use
// it get the new rules at once.
func (e *Engine) UpdateSCSIPolicy(ctx context.Context, p model.SCSIPolicy) (model.SCSIPolicy, error) {
	const action, typ = apperr.ActionUpdate, apperr.TypeSCSIPolicy
	if err := validatePolicy(action, p); err != nil {
		return p, err
	}
	var old model.SCSIPolicy
	var targets []livePolicyTarget
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		if old, err = tx.GetSCSIPolicy(ctx, p.ID); err != nil {
			return mapNotFound(err, action, typ, p.ID)
		}
		users, err := disksUsingPolicy(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		targets, err = liveTargets(ctx, tx, action, typ, idsOf(users))
		return err
	})
	if err != nil {
		return p, err
	}
	p.CreatedAt = old.CreatedAt
	if err := e.pushPolicy(ctx, action, typ, targets,
		func(string) scsipolicy.Spec { return specOf(p) }, func(string) scsipolicy.Spec { return specOf(old) }); err != nil {
		return p, err
	}
	return p, e.st.Tx(ctx, func(tx store.Tx) error {
		if err := insertNamed(tx.UpdateSCSIPolicy(ctx, p), action, typ, p.Name); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_UPDATE_SCSI_POLICY",
			Message: fmt.Sprintf("SCSI policy %s was updated by %s (%d running disks follow at once).", p.Name, Caller(ctx), len(targets))})
	})
}

// RemoveSCSIPolicy removes a custom policy no disk uses.
func (e *Engine) RemoveSCSIPolicy(ctx context.Context, id string) error {
	const action, typ = apperr.ActionRemove, apperr.TypeSCSIPolicy
	return e.st.Tx(ctx, func(tx store.Tx) error {
		p, err := tx.GetSCSIPolicy(ctx, id)
		if err != nil {
			return mapNotFound(err, action, typ, id)
		}
		users, err := disksUsingPolicy(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			var names []string
			for _, d := range users {
				names = append(names, d.Alias)
			}
			return apperr.New(apperr.SCSIPolicyInUse, action, typ, "diskAliases", strings.Join(names, ", "))
		}
		if err := tx.DeleteSCSIPolicy(ctx, id); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "USER_REMOVE_SCSI_POLICY",
			Message: fmt.Sprintf("SCSI policy %s was removed by %s.", p.Name, Caller(ctx))})
	})
}

func disksUsingPolicy(ctx context.Context, tx store.Tx, id string) ([]model.Disk, error) {
	all, err := tx.ListDisks(ctx, store.ListOptions{})
	var out []model.Disk
	for _, d := range all {
		if d.SCSIPolicy == id {
			out = append(out, d)
		}
	}
	return out, err
}

func idsOf(disks []model.Disk) []string {
	out := make([]string, len(disks))
	for i, d := range disks {
		out[i] = d.ID
	}
	return out
}

// IsBuiltinSCSIPolicy tells whether id names a built-in policy (a built-in's
// id is its name).
func IsBuiltinSCSIPolicy(id string) bool {
	return id == scsipolicy.NameFiltered || id == scsipolicy.NameUnfiltered
}

// diskPolicy is the policy a pass-through LUN disk is held to: its custom
// policy, else the built-in its sgio names.
func diskPolicy(ctx context.Context, tx store.Tx, d model.Disk) (model.SCSIPolicy, error) {
	if d.SCSIPolicy != "" {
		p, err := tx.GetSCSIPolicy(ctx, d.SCSIPolicy)
		if err != nil {
			return p, fmt.Errorf("disk %s: SCSI policy %s: %w", d.Alias, d.SCSIPolicy, err)
		}
		return p, nil
	}
	b := BuiltinSCSIPolicies()
	if d.SGIO == model.SGIOUnfiltered {
		return b[1], nil
	}
	return b[0], nil
}

// effectivePolicy is diskPolicy in the form the agent enforces (a built-in
// by its name alone).
func effectivePolicy(ctx context.Context, tx store.Tx, d model.Disk) (scsipolicy.Spec, error) {
	p, err := diskPolicy(ctx, tx, d)
	if err != nil || IsBuiltinSCSIPolicy(p.ID) {
		return scsipolicy.Spec{Name: p.Name}, err
	}
	return specOf(p), nil
}

// EffectiveSCSIPolicy is the policy a pass-through LUN is held to (the zero
// policy for other disks), for the API's sgio_effective and scsi_policy.
func (e *Engine) EffectiveSCSIPolicy(ctx context.Context, d model.Disk) (model.SCSIPolicy, error) {
	var p model.SCSIPolicy
	if !d.PassThrough() {
		return p, nil
	}
	if d.SCSIPolicy == "" { // a built-in, named by sgio: nothing to read
		return diskPolicy(ctx, nil, d)
	}
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = diskPolicy(ctx, tx, d)
		return err
	})
	return p, err
}

// withPolicies gives each pass-through iSCSI LUN of a VM spec its policy
// (the agent's proxy enforces it).
func withPolicies(ctx context.Context, tx store.Tx, s *vmState, vs *vmspec.VM) error {
	for i := range vs.Disks {
		if err := withPolicy(ctx, tx, s, &vs.Disks[i]); err != nil {
			return err
		}
	}
	return nil
}

// withPolicy sets one spec disk's policy, if it is a pass-through iSCSI LUN.
func withPolicy(ctx context.Context, tx store.Tx, s *vmState, out *vmspec.Disk) error {
	d, ok := s.rows.disks.Get(out.ID)
	if !ok || out.Device != vmspec.DeviceLUN || out.ISCSI == nil {
		return nil
	}
	spec, err := effectivePolicy(ctx, tx, d)
	if err != nil {
		return err
	}
	out.SCSIPolicy = &spec
	return nil
}

// resolveDiskPolicy applies a requested policy name to a disk: the built-in
// names set its sgio, a custom name its policy id (and sgio unfiltered: more
// than the filtered set may pass, as the policy says).
func resolveDiskPolicy(ctx context.Context, tx store.Tx, action apperr.Action, d *model.Disk, name *string) error {
	if name == nil {
		return nil
	}
	// A policy is for what the guest sends the LUN itself: it turns SCSI
	// pass-through on (the sgio it sets), so only LUNs can have one.
	if !d.IsLUN() {
		return apperr.New(apperr.SCSIPolicyNeedsPassThrough, action, apperr.TypeDisk)
	}
	switch *name {
	case scsipolicy.NameFiltered:
		d.SGIO, d.SCSIPolicy = model.SGIOFiltered, ""
	case scsipolicy.NameUnfiltered:
		d.SGIO, d.SCSIPolicy = model.SGIOUnfiltered, ""
	default:
		p, err := tx.GetSCSIPolicyByName(ctx, *name)
		if err != nil {
			return mapNotFound(err, action, apperr.TypeSCSIPolicy, *name)
		}
		d.SGIO, d.SCSIPolicy = model.SGIOUnfiltered, p.ID
	}
	return nil
}

// checkReservation: an attachment that uses SCSI reservation needs a policy
// that lets PERSISTENT RESERVE IN and OUT through.
func checkReservation(ctx context.Context, tx store.Tx, action apperr.Action, d model.Disk, a model.DiskAttachment) error {
	if !a.UsesSCSIReservation || !d.PassThrough() {
		return nil
	}
	spec, err := effectivePolicy(ctx, tx, d)
	if err != nil {
		return err
	}
	p, err := scsipolicy.Resolve(spec)
	if err != nil {
		return err
	}
	if !p.AdmitsReservations() {
		return apperr.New(apperr.ReservationNeedsPolicy, action, apperr.TypeDisk, "diskAlias", d.Alias, "policy", spec.Name)
	}
	return nil
}
