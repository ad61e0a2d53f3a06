package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// searchQuery is oVirt's ?search=…; "" lists everything.
func searchQuery(search string) url.Values {
	if search == "" {
		return nil
	}
	return url.Values{"search": {search}}
}

// nonNil makes an empty list [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ListVMs lists the VMs the caller may see; search is oVirt's query
// (govirt understands name=… with * wildcards).
func (c *Client) ListVMs(ctx context.Context, search string) ([]ovirt.VM, error) {
	var out ovirt.VMs
	err := c.do(ctx, http.MethodGet, "/vms", searchQuery(search), nil, &out)
	return nonNil(out.VMs), err
}

// GetVM reads one VM by id.
func (c *Client) GetVM(ctx context.Context, id string) (ovirt.VM, error) {
	var out ovirt.VM
	err := c.do(ctx, http.MethodGet, "/vms/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// AddVM creates a VM; vm needs a name and a cluster (by id or name).
func (c *Client) AddVM(ctx context.Context, vm ovirt.VM) (ovirt.VM, error) {
	var out ovirt.VM
	err := c.do(ctx, http.MethodPost, "/vms", nil, &vm, &out)
	return out, err
}

// StartVM runs a VM and returns it as the engine left it (usually
// wait_for_launch: poll GetVM to see it come up).
func (c *Client) StartVM(ctx context.Context, id string) (ovirt.VM, error) {
	return c.vmAction(ctx, id, "start")
}

// StopVM powers a VM off.
func (c *Client) StopVM(ctx context.Context, id string) (ovirt.VM, error) {
	return c.vmAction(ctx, id, "stop")
}

// ShutdownVM asks the guest to shut down.
func (c *Client) ShutdownVM(ctx context.Context, id string) (ovirt.VM, error) {
	return c.vmAction(ctx, id, "shutdown")
}

// MigrateVM live-migrates a running VM to host (an id or a name; empty:
// the engine's pick) and returns the VM once it runs there.
func (c *Client) MigrateVM(ctx context.Context, id, host string) (ovirt.VM, error) {
	in := ovirt.Action{}
	if host != "" {
		in.Host = RefTo(host)
	}
	return c.action(ctx, id, "migrate", &in)
}

func (c *Client) vmAction(ctx context.Context, id, action string) (ovirt.VM, error) {
	return c.action(ctx, id, action, &ovirt.Action{})
}

func (c *Client) action(ctx context.Context, id, action string, in *ovirt.Action) (ovirt.VM, error) {
	var out ovirt.Action
	err := c.do(ctx, http.MethodPost, "/vms/"+url.PathEscape(id)+"/"+action, nil, in, &out)
	if err != nil {
		return ovirt.VM{}, err
	}
	if out.Fault != nil {
		return ovirt.VM{}, &Fault{Status: http.StatusOK, Reason: out.Fault.Reason, Detail: out.Fault.Detail}
	}
	if out.VM == nil {
		return c.GetVM(ctx, id)
	}
	return *out.VM, nil
}

// ListDisks lists the disks the caller may see; search as in ListVMs
// (the name is the disk's alias).
func (c *Client) ListDisks(ctx context.Context, search string) ([]ovirt.Disk, error) {
	var out ovirt.Disks
	err := c.do(ctx, http.MethodGet, "/disks", searchQuery(search), nil, &out)
	return nonNil(out.Disks), err
}

// GetDisk reads one disk by id.
func (c *Client) GetDisk(ctx context.Context, id string) (ovirt.Disk, error) {
	var out ovirt.Disk
	err := c.do(ctx, http.MethodGet, "/disks/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// AddDisk creates a floating disk: an image (see ImageDisk) or a direct
// iSCSI LUN (see LUNDisk).
func (c *Client) AddDisk(ctx context.Context, d ovirt.Disk) (ovirt.Disk, error) {
	var out ovirt.Disk
	err := c.do(ctx, http.MethodPost, "/disks", nil, &d, &out)
	return out, err
}

// ImageDisk describes a new image disk of size bytes in a storage domain
// (named by name or id); format is cow or raw ("" for the engine's
// default).
func ImageDisk(name string, size int64, storageDomain, format string, shareable bool) ovirt.Disk {
	d := ovirt.Disk{Alias: ovirt.Str(name), ProvisionedSize: ovirt.I(size), Shareable: ovirt.B(shareable),
		StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{domainRef(storageDomain)}}}
	if format != "" {
		d.Format = ovirt.Str(format)
	}
	return d
}

func domainRef(ref string) ovirt.StorageDomain {
	r := RefTo(ref)
	return ovirt.StorageDomain{ID: r.ID, Name: r.Name}
}

// LUN is an iSCSI logical unit for a direct LUN disk.
type LUN struct {
	Address string
	Port    int // 0: 3260
	Target  string
	Mapping int    // the LUN number
	ID      string // "" lets the engine derive one
}

// LUNDisk describes a new direct LUN disk; sgio is filtered, unfiltered,
// disabled or "" (the engine's default).
func LUNDisk(name string, lun LUN, sgio string, shareable bool) ovirt.Disk {
	u := ovirt.LogicalUnit{ID: lun.ID, Address: ovirt.Str(lun.Address), Target: ovirt.Str(lun.Target), LunMapping: ovirt.I(int64(lun.Mapping))}
	if lun.Port != 0 {
		u.Port = ovirt.I(int64(lun.Port))
	}
	d := ovirt.Disk{Alias: ovirt.Str(name), Shareable: ovirt.B(shareable),
		LunStorage: &ovirt.HostStorage{Type: ovirt.Str("iscsi"), LogicalUnits: &ovirt.LogicalUnits{LogicalUnits: []ovirt.LogicalUnit{u}}}}
	if sgio != "" {
		d.Sgio = ovirt.Str(sgio)
	}
	return d
}

func attachmentPath(vmID, diskID string) string {
	p := "/vms/" + url.PathEscape(vmID) + "/diskattachments"
	if diskID != "" {
		p += "/" + url.PathEscape(diskID)
	}
	return p
}

// ListAttachments lists a VM's disk attachments.
func (c *Client) ListAttachments(ctx context.Context, vmID string) ([]ovirt.DiskAttachment, error) {
	var out ovirt.DiskAttachments
	err := c.do(ctx, http.MethodGet, attachmentPath(vmID, ""), nil, nil, &out)
	return nonNil(out.DiskAttachments), err
}

// Attach attaches a disk to a VM: an existing one when a.Disk has an id,
// otherwise the new disk a.Disk describes (created and attached at once).
func (c *Client) Attach(ctx context.Context, vmID string, a ovirt.DiskAttachment) (ovirt.DiskAttachment, error) {
	var out ovirt.DiskAttachment
	err := c.do(ctx, http.MethodPost, attachmentPath(vmID, ""), nil, &a, &out)
	return out, err
}

// Detach detaches a disk from a VM; without detachOnly the disk is removed
// too, as oVirt does.
func (c *Client) Detach(ctx context.Context, vmID, diskID string, detachOnly bool) error {
	q := url.Values{"detach_only": {"false"}}
	if detachOnly {
		q.Set("detach_only", "true")
	}
	return c.do(ctx, http.MethodDelete, attachmentPath(vmID, diskID), q, nil, nil)
}

// SetActive activates (plugs) or deactivates (unplugs) an attached disk.
func (c *Client) SetActive(ctx context.Context, vmID, diskID string, active bool) (ovirt.DiskAttachment, error) {
	var out ovirt.DiskAttachment
	err := c.do(ctx, http.MethodPut, attachmentPath(vmID, diskID), nil, &ovirt.DiskAttachment{Active: ovirt.B(active)}, &out)
	return out, err
}
