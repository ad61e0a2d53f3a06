package scsipolicy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// ErrInvalid marks every error about a policy an administrator wrote, so
// the API can answer 400 with the message.
var ErrInvalid = errors.New("invalid SCSI command policy")

// Base is what a policy allows before its rules.
type Base string

// The bases a policy starts from.
const (
	// BaseFiltered starts from the filtered table (Linux's unprivileged
	// SG_IO set, docs/SCSI-POLICY.md).
	BaseFiltered Base = "filtered"
	// BaseUnfiltered allows everything; deny rules make it a deny-list.
	BaseUnfiltered Base = "unfiltered"
	// BaseNone allows nothing; allow rules make it a pure allow-list.
	BaseNone Base = "none"
)

// Names of the two built-in policies, which are also oVirt's sgio values.
const (
	NameFiltered   = "filtered"
	NameUnfiltered = "unfiltered"
)

// Spec is a policy as administrators write and the engine stores it. Rules
// use ParseOp's syntax.
type Spec struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Base        Base     `json:"base"`
	Allow       []string `json:"allow,omitempty"`
	Deny        []string `json:"deny,omitempty"`
}

// verdict is the decision for one operation code.
type verdict uint8

const (
	deny verdict = iota
	allow
)

// Policy is a compiled, immutable Spec: safe to share between goroutines
// and to swap atomically while commands flow.
type Policy struct {
	spec Spec
	ops  [256]verdict
	// sa holds service-action rules: sa[op] = verdict for that Op.
	sa map[Op]verdict
	// Reasons, built once so that Decide does not allocate.
	reasonSA, reasonDeny string
}

// Decision is Decide's answer with what it was about and why.
type Decision struct {
	Allow  bool
	Op     Op
	Reason string
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// reservedNames cannot name custom policies: they are sgio values.
var reservedNames = []string{NameFiltered, NameUnfiltered, "disabled", "none"}

// Compile validates a Spec and builds its Policy. Every error wraps
// ErrInvalid and says which part of the spec is wrong.
func Compile(spec Spec) (*Policy, error) {
	if !namePattern.MatchString(spec.Name) {
		return nil, fmt.Errorf("%w: name %q must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, spec.Name)
	}
	if slices.Contains(reservedNames, spec.Name) {
		return nil, fmt.Errorf("%w: name %q is reserved for the built-in policy or sgio value", ErrInvalid, spec.Name)
	}
	p, err := build(spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// build compiles a spec without checking its name (the built-ins use the
// reserved names).
func build(spec Spec) (*Policy, error) {
	p := &Policy{spec: spec, sa: map[Op]verdict{},
		reasonSA: "service action rule of " + spec.Name, reasonDeny: "not allowed by " + spec.Name}
	switch spec.Base {
	case BaseFiltered:
		for _, op := range filteredOps {
			p.ops[op.Code] = allow
		}
	case BaseUnfiltered:
		for i := range p.ops {
			p.ops[i] = allow
		}
	case BaseNone:
	default:
		return nil, fmt.Errorf("%w: base %q must be %q, %q or %q", ErrInvalid, spec.Base, BaseFiltered, BaseUnfiltered, BaseNone)
	}
	if spec.Base == BaseUnfiltered && len(spec.Allow) > 0 {
		return nil, fmt.Errorf("%w: an unfiltered base already allows everything; allow rules %v have no effect", ErrInvalid, spec.Allow)
	}
	if spec.Base == BaseNone && len(spec.Deny) > 0 {
		return nil, fmt.Errorf("%w: a none base already denies everything; deny rules %v have no effect", ErrInvalid, spec.Deny)
	}
	if spec.Base == BaseNone && len(spec.Allow) == 0 {
		return nil, fmt.Errorf("%w: base none without allow rules allows no command, not even READ", ErrInvalid)
	}
	allowOps, err := parseRules("allow", spec.Allow)
	if err != nil {
		return nil, err
	}
	denyOps, err := parseRules("deny", spec.Deny)
	if err != nil {
		return nil, err
	}
	for _, a := range allowOps {
		for _, d := range denyOps {
			if a == d {
				return nil, fmt.Errorf("%w: %s (%s) is both allowed and denied", ErrInvalid, a, a.Name())
			}
		}
	}
	// Allow rules first, deny rules last: a deny always wins.
	for _, r := range []struct {
		ops []Op
		v   verdict
	}{{allowOps, allow}, {denyOps, deny}} {
		for _, op := range r.ops {
			if !op.HasSA {
				p.ops[op.Code] = r.v
				// An operation code rule overrides earlier SA rules of the same list only
				// when it denies; a deny of the whole code beats allowed service actions.
				if r.v == deny {
					for k := range p.sa {
						if k.Code == op.Code {
							p.sa[k] = deny
						}
					}
				}
				continue
			}
			if r.v == allow && p.ops[op.Code] == allow {
				continue // already allowed as a whole, unless a deny rule follows
			}
			p.sa[op] = r.v
		}
	}
	return p, nil
}

func parseRules(list string, rules []string) ([]Op, error) {
	ops := make([]Op, 0, len(rules))
	for i, r := range rules {
		op, err := ParseOp(r)
		if err != nil {
			return nil, fmt.Errorf("%s rule %d: %w", list, i+1, err)
		}
		if slices.Contains(ops, op) {
			return nil, fmt.Errorf("%w: %s rule %q repeats %s", ErrInvalid, list, r, op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Resolve turns a stored or transmitted Spec into its Policy: the built-in
// names give the built-ins (and must carry nothing else), any other name is
// compiled as a custom policy.
func Resolve(spec Spec) (*Policy, error) {
	for _, b := range []struct {
		name string
		base Base
		p    func() *Policy
	}{{NameFiltered, BaseFiltered, Filtered}, {NameUnfiltered, BaseUnfiltered, Unfiltered}} {
		if spec.Name != b.name {
			continue
		}
		if (spec.Base != "" && spec.Base != b.base) || len(spec.Allow) > 0 || len(spec.Deny) > 0 {
			return nil, fmt.Errorf("%w: the built-in policy %q has no rules and base %q", ErrInvalid, b.name, b.base)
		}
		return b.p(), nil
	}
	return Compile(spec)
}

// Filtered is the built-in filtered policy (oVirt's sgio="filtered").
func Filtered() *Policy {
	p, err := build(Spec{Name: NameFiltered, Description: "Linux's unprivileged SG_IO set on a disk", Base: BaseFiltered})
	if err != nil {
		panic(err) // the built-in table is constant and tested
	}
	return p
}

// Unfiltered is the built-in unfiltered policy (oVirt's sgio="unfiltered").
func Unfiltered() *Policy {
	p, err := build(Spec{Name: NameUnfiltered, Description: "every command", Base: BaseUnfiltered})
	if err != nil {
		panic(err)
	}
	return p
}

// Presets are the custom policies the issue names, as starting points an
// administrator can create as they are.
func Presets() []Spec {
	return []Spec{
		{Name: "reservations", Description: "filtered plus SCSI-3 persistent reservations (clusters, fencing)",
			Base: BaseFiltered, Allow: []string{"persistent-reserve-in", "persistent-reserve-out"}},
		{Name: "trim", Description: "filtered plus thin-provisioning commands",
			Base: BaseFiltered, Allow: []string{"unmap", "write-same-10", "write-same-16", "write-same-32"}},
	}
}

// Spec returns the policy as written.
func (p *Policy) Spec() Spec { return p.spec }

// Name is the policy's name.
func (p *Policy) Name() string { return p.spec.Name }

// Decide says whether a command may reach the LUN. An empty CDB, or one too
// short to hold its service action, is denied unless the policy is an
// unfiltered base without rules.
func (p *Policy) Decide(cdb []byte) Decision {
	op, ok := OpOf(cdb)
	if !ok {
		if p.spec.Base == BaseUnfiltered && len(p.spec.Deny) == 0 {
			return Decision{Allow: true, Op: op, Reason: "unfiltered"}
		}
		return Decision{Op: op, Reason: "malformed CDB"}
	}
	return p.decideOp(op)
}

func (p *Policy) decideOp(op Op) Decision {
	if op.HasSA {
		if v, ok := p.sa[op]; ok {
			return Decision{Allow: v == allow, Op: op, Reason: p.reasonSA}
		}
	}
	if p.ops[op.Code] == allow {
		return Decision{Allow: true, Op: op, Reason: p.spec.Name}
	}
	return Decision{Op: op, Reason: p.reasonDeny}
}

// AdmitsReservations says whether a guest can use SCSI-3 persistent
// reservations under this policy: every PERSISTENT RESERVE IN service action
// (0-3) and every PERSISTENT RESERVE OUT one (0-7) must be allowed. oVirt's
// uses_scsi_reservation needs it.
func (p *Policy) AdmitsReservations() bool {
	for sa := uint16(0); sa <= 3; sa++ {
		if !p.decideOp(Op{Code: 0x5e, HasSA: true, ServiceAction: sa}).Allow {
			return false
		}
	}
	for sa := uint16(0); sa <= 7; sa++ {
		if !p.decideOp(Op{Code: 0x5f, HasSA: true, ServiceAction: sa}).Allow {
			return false
		}
	}
	return true
}

// Table is a compiled policy as a lookup table, for an enforcer that
// decides outside Go (the agent's kernel guard): Ops[code] decides an
// operation code, and SA, where it names the code and the command's
// service action (read from where SAField says), overrides it. Decide and
// a lookup in Table agree on every CDB of 16 bytes.
type Table struct {
	Ops [256]bool
	SA  map[Op]bool
}

// Table returns the policy as a Table.
func (p *Policy) Table() Table {
	t := Table{SA: make(map[Op]bool, len(p.sa))}
	for i, v := range p.ops {
		t.Ops[i] = v == allow
	}
	for op, v := range p.sa {
		t.SA[op] = v == allow
	}
	return t
}
