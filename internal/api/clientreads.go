package api

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// Reads that clients such as the web portal need to mirror the engine's
// rules without guessing: oVirt's cluster levels (action groups and
// features of a compatibility version), a user's own permissions, paging
// with search's "page N", and inline disk attachments (follow).

// featureVirtioSCSI is the cluster feature a level has when its
// VirtIOScsiEnabled value is true.
const featureVirtioSCSI = "virtio_scsi"

// clusterLevel describes a level: its permits in the role dialog's
// category order, and its features.
func (s *Server) clusterLevel(c *call, v model.Version) (ovirt.ClusterLevel, error) {
	id := v.String()
	out := ovirt.ClusterLevel{ID: id, Href: href("clusterlevels", id), Permits: &ovirt.LevelPermits{},
		ClusterFeatures: &ovirt.ClusterFeatures{ClusterFeatures: []ovirt.ClusterFeature{}}}
	groups := authz.ActionGroups()
	order := authz.Categories()
	slices.SortStableFunc(groups, func(a, b authz.GroupInfo) int {
		return slices.Index(order, a.Category) - slices.Index(order, b.Category)
	})
	for _, g := range groups {
		out.Permits.Permits = append(out.Permits.Permits, ovirt.LevelPermit{
			ID: strconv.Itoa(int(g.Group)), Name: ovirt.Str(g.Group.PermitName()), Description: ovirt.Str(g.Tooltip),
			Administrative: ovirt.B(g.Type == authz.AdminType), Label: ovirt.Str(g.Label), Category: ovirt.Str(g.Category),
		})
	}
	val, err := s.eng.GetConfig(c.ctx, engine.ConfigVirtIOScsiEnabled, id)
	if err != nil {
		return out, err
	}
	if on, _ := strconv.ParseBool(val); on {
		out.ClusterFeatures.ClusterFeatures = append(out.ClusterFeatures.ClusterFeatures, ovirt.ClusterFeature{
			ID: featureVirtioSCSI, Name: ovirt.Str(featureVirtioSCSI),
			Description: ovirt.Str("VirtIO-SCSI disks and controllers (VirtIOScsiEnabled)"),
		})
	}
	return out, nil
}

func (s *Server) listClusterLevels(c *call) (int, any, error) {
	out := ovirt.ClusterLevels{ClusterLevels: []ovirt.ClusterLevel{}}
	for _, v := range model.Versions {
		l, err := s.clusterLevel(c, v)
		if err != nil {
			return 0, nil, err
		}
		out.ClusterLevels = append(out.ClusterLevels, l)
	}
	return http.StatusOK, out, nil
}

func (s *Server) getClusterLevel(c *call) (int, any, error) {
	v, err := model.ParseVersion(c.id("id"))
	if err != nil || !v.Supported() {
		return 0, nil, notFoundf("Entity not found: cluster level %s", c.id("id"))
	}
	l, err := s.clusterLevel(c, v)
	return http.StatusOK, l, err
}

// listUserPermissions lists the permissions a user holds, as oVirt's
// /users/{id}/permissions does. Users see all of their own; others see
// only those on objects they may see, so ids reveal nothing.
func (s *Server) listUserPermissions(c *call) (int, any, error) {
	u, err := findRow(c, "user", c.id("id"), store.Tx.GetUser)
	if err != nil {
		return 0, nil, err
	}
	perms, err := view(c, func(tx store.Tx) ([]store.Permission, error) {
		return tx.ListPermissions(c.ctx, store.PermissionFilter{UserID: u.ID})
	})
	if err != nil {
		return 0, nil, err
	}
	if u.ID != c.p.UserID {
		if perms, err = keepVisible(c, perms, 0, func(p store.Permission) []Object {
			o := Object{Type: string(p.ObjectType), ID: p.ObjectID}
			if p.ObjectType == store.ObjectSystem {
				o = System
			}
			return []Object{o}
		}); err != nil {
			return 0, nil, err
		}
	}
	out := ovirt.Permissions{Permissions: make([]ovirt.Permission, len(perms))}
	for i, p := range perms {
		out.Permissions[i] = permissionToWire(p)
	}
	return http.StatusOK, out, nil
}

// pageClause is oVirt's paging inside a search: "name=web* page 3".
var pageClause = regexp.MustCompile(`(?i)(^|\s)page\s+(\S+)\s*$`)

// cutPage splits "page N" off a search; page is 1 when there is none.
func cutPage(search string) (rest string, page int, err error) {
	m := pageClause.FindStringSubmatchIndex(search)
	if m == nil {
		return search, 1, nil
	}
	n, err := strconv.Atoi(search[m[4]:m[5]])
	if err != nil || n < 1 {
		return search, 0, badRequestf("The page of a search must be a positive integer, not %q.", search[m[4]:m[5]])
	}
	return strings.TrimSpace(search[:m[0]]), n, nil
}

// page reads the search's page number (1 when it has none).
func (c *call) page() (int, error) {
	_, n, err := cutPage(strings.TrimSpace(c.r.URL.Query().Get("search")))
	return n, err
}

// keepPage is keepVisible for one page of max items: page N skips the
// first (N-1)*max items the caller may see. Without max there is one page.
func keepPage[T any](c *call, items []T, max int, objs func(T) []Object) ([]T, error) {
	page, err := c.page()
	if err != nil {
		return nil, err
	}
	if max == 0 {
		if page > 1 {
			return []T{}, nil
		}
		return keepVisible(c, items, 0, objs)
	}
	skip := (page - 1) * max
	shown, err := keepVisible(c, items, skip+max, objs)
	if err != nil || len(shown) <= skip {
		return shown[:0], err
	}
	return shown[skip:], nil
}

// follows reads oVirt's follow parameter; only disk_attachments is known.
func (c *call) follows() (attachments bool, err error) {
	f := strings.TrimSpace(c.r.URL.Query().Get("follow"))
	for _, part := range strings.Split(f, ",") {
		switch strings.TrimSpace(part) {
		case "":
		case "disk_attachments":
			attachments = true
		default:
			return false, badRequestf("follow=%s is not supported: only disk_attachments.", part)
		}
	}
	return attachments, nil
}

// inlineAttachments puts each VM's disk attachments inside it, as oVirt's
// follow=disk_attachments does, so a list shows disk counts in one request.
func (s *Server) inlineAttachments(c *call, tx store.Tx, vms []ovirt.VM) error {
	for i := range vms {
		atts, err := tx.ListAttachmentsOfVM(c.ctx, vms[i].ID)
		if err != nil {
			return err
		}
		w := &ovirt.DiskAttachments{DiskAttachments: make([]ovirt.DiskAttachment, len(atts))}
		for j, a := range atts {
			w.DiskAttachments[j] = attachmentToWire(a)
		}
		vms[i].DiskAttachments = w
	}
	return nil
}

// setAddresses fills the drive address of each attachment of one VM from
// its device rows (disks on virtio-scsi have one; others none).
func setAddresses(c *call, tx store.Tx, vmID string, atts []ovirt.DiskAttachment) error {
	devs, err := tx.ListDevicesOfVM(c.ctx, vmID)
	if err != nil {
		return err
	}
	addr := map[string]string{}
	for _, d := range devs {
		if d.Type == model.DeviceTypeDisk && d.Address != nil {
			addr[d.ID] = d.Address.String()
		}
	}
	for i := range atts {
		if a, ok := addr[atts[i].ID]; ok {
			atts[i].Address = ovirt.Str(a)
		}
	}
	return nil
}

func interfacesToWire(ifs []model.DiskInterface) *ovirt.DiskInterfaces {
	out := &ovirt.DiskInterfaces{DiskInterfaces: make([]string, len(ifs))}
	for i, f := range ifs {
		out.DiskInterfaces[i] = string(f)
	}
	return out
}
