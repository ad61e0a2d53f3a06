package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// scsiPolicies keeps a policy's rules as JSON arrays of rule strings.
var scsiPolicies = &table[model.SCSIPolicy]{
	what:    "scsi policy",
	name:    "scsi_policies",
	cols:    []string{"id", "name", "description", "base", "allow_rules", "deny_rules", "created_at"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(p model.SCSIPolicy) []any {
		return []any{p.ID, p.Name, p.Description, p.Base, rulesJSON(p.Allow), rulesJSON(p.Deny), micros(p.CreatedAt)}
	},
	scan: func(s scanner) (p model.SCSIPolicy, err error) {
		var allow, deny string
		var created int64
		if err = s.Scan(&p.ID, &p.Name, &p.Description, &p.Base, &allow, &deny, &created); err != nil {
			return p, err
		}
		p.CreatedAt = fromMicros(created)
		if err := json.Unmarshal([]byte(allow), &p.Allow); err != nil {
			return p, fmt.Errorf("scsi policy %s: allow rules: %w", p.Name, err)
		}
		if err := json.Unmarshal([]byte(deny), &p.Deny); err != nil {
			return p, fmt.Errorf("scsi policy %s: deny rules: %w", p.Name, err)
		}
		return p, nil
	},
}

// rulesJSON encodes a rule list; strings cannot fail to encode.
func rulesJSON(rules []string) string {
	if rules == nil {
		rules = []string{}
	}
	b, _ := json.Marshal(rules)
	return string(b)
}

func (t *tx) GetSCSIPolicy(ctx context.Context, id string) (model.SCSIPolicy, error) {
	return scsiPolicies.get(ctx, t, id)
}

func (t *tx) GetSCSIPolicyByName(ctx context.Context, name string) (model.SCSIPolicy, error) {
	return getWhere(ctx, t, scsiPolicies, name, "name = ?", name)
}

func (t *tx) ListSCSIPolicies(ctx context.Context, o store.ListOptions) ([]model.SCSIPolicy, error) {
	return scsiPolicies.listNamed(ctx, t, o)
}

// InsertSCSIPolicy fails with store.ErrConflict when the name is taken.
func (t *tx) InsertSCSIPolicy(ctx context.Context, p model.SCSIPolicy) error {
	return scsiPolicies.insert(ctx, t, p)
}

func (t *tx) UpdateSCSIPolicy(ctx context.Context, p model.SCSIPolicy) error {
	return scsiPolicies.update(ctx, t, p)
}

func (t *tx) DeleteSCSIPolicy(ctx context.Context, id string) error {
	return scsiPolicies.delete(ctx, t, id)
}
