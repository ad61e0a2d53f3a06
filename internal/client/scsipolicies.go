package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// ListSCSIPolicies lists the SCSI command policies, built-in and custom.
func (c *Client) ListSCSIPolicies(ctx context.Context) ([]ovirt.SCSIPolicy, error) {
	var out ovirt.SCSIPolicies
	err := c.do(ctx, http.MethodGet, "/scsipolicies", nil, nil, &out)
	return nonNil(out.Policies), err
}

// AddSCSIPolicy defines a custom policy: base filtered, unfiltered or
// none, then allow and deny rules (command names, 0xNN or 0xNN/0xSA).
func (c *Client) AddSCSIPolicy(ctx context.Context, name, description, base string, allow, deny []string) (ovirt.SCSIPolicy, error) {
	in := ovirt.SCSIPolicy{Name: ovirt.Str(name), Base: ovirt.Str(base)}
	if description != "" {
		in.Description = ovirt.Str(description)
	}
	if len(allow) > 0 {
		in.Allow = &ovirt.Rules{Rules: allow}
	}
	if len(deny) > 0 {
		in.Deny = &ovirt.Rules{Rules: deny}
	}
	var out ovirt.SCSIPolicy
	err := c.do(ctx, http.MethodPost, "/scsipolicies", nil, &in, &out)
	return out, err
}

// RemoveSCSIPolicy removes a custom policy no disk uses.
func (c *Client) RemoveSCSIPolicy(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/scsipolicies/"+url.PathEscape(id), nil, nil, nil)
}

// SetSCSIPolicy gives a pass-through LUN disk a policy by name; a plugged
// disk's guest is held to it at once.
func (c *Client) SetSCSIPolicy(ctx context.Context, diskID, policy string) (ovirt.Disk, error) {
	in := ovirt.Disk{SCSIPolicy: &ovirt.Ref{Name: ovirt.Str(policy)}}
	var out ovirt.Disk
	err := c.do(ctx, http.MethodPut, "/disks/"+url.PathEscape(diskID), nil, &in, &out)
	return out, err
}
