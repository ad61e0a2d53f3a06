package api

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/osinfo"
	"github.com/govirt/govirt/internal/store"
)

// The API version govirt answers with: oVirt's SDKs and Ansible modules
// check product_info/version and expect 4.5 for the v4 API they speak.
const (
	apiMajor   = 4
	apiMinor   = 5
	apiBuild   = 0
	apiVersion = "4.5.0"
)

// rootCollections are the collections the root links to; searchable ones
// also get oVirt's "<rel>/search" link.
var rootCollections = []struct {
	rel        string
	searchable bool
}{
	{"clusterlevels", false}, {"clusters", true}, {"datacenters", true}, {"disks", true}, {"events", false},
	{"hosts", true}, {"operatingsystems", false}, {"permissions", false},
	{"roles", false}, {"storagedomains", true}, {"users", true}, {"vms", true},
}

// getRoot is the entry point SDKs read first: links to every collection,
// the product and its API version, and the server's time. The mux pattern
// "GET /ovirt-engine/api/" also matches every unknown path below it; those
// are 404 here.
func (s *Server) getRoot(c *call) (int, any, error) {
	if strings.TrimSuffix(c.r.URL.Path, "/") != Prefix {
		return 0, nil, notFoundf("No resource at %s %s.", c.r.Method, c.r.URL.Path)
	}
	api := ovirt.API{
		ProductInfo: &ovirt.ProductInfo{
			Name: ovirt.Str("govirt"), Vendor: ovirt.Str("govirt"),
			Version: &ovirt.Version{Major: ovirt.I(apiMajor), Minor: ovirt.I(apiMinor), Build: ovirt.I(apiBuild), Full: ovirt.Str(apiVersion)},
		},
		Time:              ovirt.Str(time.Now().Format(time.RFC3339)),
		AuthenticatedUser: ref("users", c.p.UserID),
	}
	for _, col := range rootCollections {
		api.Links = append(api.Links, ovirt.Link{Href: href(col.rel), Rel: col.rel})
		if col.searchable {
			api.Links = append(api.Links, ovirt.Link{Href: href(col.rel) + "?search={query}", Rel: col.rel + "/search"})
		}
	}
	return http.StatusOK, api, nil
}

func osToWire(o osinfo.OS) ovirt.OperatingSystem {
	id := strconv.Itoa(o.ID)
	return ovirt.OperatingSystem{ID: id, Href: href("operatingsystems", id), Name: ovirt.Str(o.Name), Description: ovirt.Str(o.Description),
		DiskInterfaces: interfacesToWire(o.Interfaces), HotPlugDiskInterfaces: interfacesToWire(o.HotPlug)}
}

// listOperatingSystems lists the guest OSes by oVirt's numeric osinfo ids,
// which clients pass back as <os><type> names.
func (s *Server) listOperatingSystems(c *call) (int, any, error) {
	all := osinfo.All()
	out := ovirt.OperatingSystems{OperatingSystems: make([]ovirt.OperatingSystem, len(all))}
	for i, o := range all {
		out.OperatingSystems[i] = osToWire(o)
	}
	return http.StatusOK, out, nil
}

func (s *Server) getOperatingSystem(c *call) (int, any, error) {
	id := c.id("id")
	for _, o := range osinfo.All() {
		if strconv.Itoa(o.ID) == id {
			return http.StatusOK, osToWire(o), nil
		}
	}
	return 0, nil, notFoundf("Entity not found: operating system %s", id)
}

// eventCodes gives each audit code the number oVirt's AuditLogType has for
// it, so that tools filtering events by code keep working. Where oVirt 4.5
// renamed a type, the number is that of the type it logs instead.
var eventCodes = map[string]int64{
	"USER_RUN_VM":                    32,
	"USER_STOP_VM":                   33,
	"USER_ADD_VM":                    34,
	"USER_UPDATE_VM":                 35,
	"USER_FAILED_RUN_VM":             54,
	"USER_FAILED_STOP_VM":            56,
	"USER_ADD_VDS":                   42,
	"USER_UPDATE_VDS":                43,
	"USER_REMOVE_VDS":                44,
	"USER_INITIATED_SHUTDOWN_VM":     73,
	"USER_UPDATE_VM_DISK":            88,
	"USER_REMOVE_VM":                 113, // USER_REMOVE_VM_FINISHED
	"USER_STARTED_VM":                153,
	"VM_DOWN":                        61,
	"USER_ADD_CLUSTER":               809,
	"USER_UPDATE_CLUSTER":            811,
	"USER_REMOVE_CLUSTER":            813,
	"USER_ADD_PERMISSION":            850,
	"USER_REMOVE_PERMISSION":         852,
	"USER_ADD_ROLE":                  854,
	"USER_UPDATE_ROLE":               856,
	"USER_REMOVE_ROLE":               858,
	"USER_ADD_STORAGE_POOL":          950,
	"USER_UPDATE_STORAGE_POOL":       952,
	"USER_REMOVE_STORAGE_POOL":       954,
	"USER_ADD_STORAGE_DOMAIN":        956,
	"USER_UPDATE_STORAGE_DOMAIN":     958,
	"USER_REMOVE_STORAGE_DOMAIN":     960,
	"USER_HOTPLUG_DISK":              2000,
	"USER_FAILED_HOTPLUG_DISK":       2001,
	"USER_HOTUNPLUG_DISK":            2002,
	"USER_FAILED_HOTUNPLUG_DISK":     2003,
	"USER_REMOVE_DISK":               2014, // USER_FINISHED_REMOVE_DISK
	"USER_ATTACH_DISK_TO_VM":         2016,
	"USER_DETACH_DISK_FROM_VM":       2018,
	"USER_ADD_DISK":                  2020,
	"USER_ADD_DISK_FINISHED_SUCCESS": 2021,
	// govirt's own, in a range oVirt does not use.
	"USER_UPDATE_DISK_ATTACHMENT": 100001,
	"VDS_STATUS_CHANGED":          100002,
	"CONFIG_CHANGED":              100003,
}

// eventCode is the number of an audit code: oVirt's, or govirt's own, or
// for a code neither table knows a stable hash in 200000–299999, so that
// one code always has one number.
func eventCode(code string) int64 {
	if n, ok := eventCodes[code]; ok {
		return n
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(code))
	return 200000 + int64(h.Sum32()%100000)
}

func eventToWire(e model.AuditEvent) ovirt.Event {
	ev := ovirt.Event{
		ID:          strconv.FormatInt(e.ID, 10),
		Code:        ovirt.I(eventCode(e.Code)),
		Description: ovirt.Str(e.Message),
		Severity:    optStr(e.Severity),
		Time:        ovirt.Str(e.Time.Format(time.RFC3339)),
		Origin:      ovirt.Str("govirt"),
		VM:          ref("vms", e.VMID),
		Host:        ref("hosts", e.HostID),
	}
	if e.User != "" && e.User != "system" { // the engine's own events have no user
		ev.User = &ovirt.Ref{Name: ovirt.Str(e.User)}
	}
	return ev
}

// eventObjects are what an event is about; one about none of them (a new
// data center, a configuration change) is the system's.
func eventObjects(e model.AuditEvent) []Object {
	var out []Object
	for _, o := range []Object{{"vm", e.VMID}, {"host", e.HostID}, {"disk", e.DiskID}} {
		if o.ID != "" {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		out = append(out, System)
	}
	return out
}

// listEvents lists the audit log newest first. from=N returns only events
// after id N and max=N caps the list, as in oVirt. A caller who may not see
// the system sees only events about objects it may see.
func (s *Server) listEvents(c *call) (int, any, error) {
	max, err := maxOnly(c, "Events")
	if err != nil {
		return 0, nil, err
	}
	var since int64
	if v := c.r.URL.Query().Get("from"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			return 0, nil, badRequestf("from must be a non-negative event id, not %q.", v)
		}
	}
	all, err := c.visible(System)
	if err != nil {
		return 0, nil, err
	}
	storeMax := max
	if !all {
		storeMax = 0 // filter first, then cap
	}
	evs, err := view(c, func(tx store.Tx) ([]model.AuditEvent, error) { return tx.ListEvents(c.ctx, since, storeMax) })
	if err != nil {
		return 0, nil, err
	}
	if !all {
		if evs, err = keepVisible(c, evs, max, eventObjects); err != nil {
			return 0, nil, err
		}
	}
	out := ovirt.Events{Events: make([]ovirt.Event, len(evs))}
	for i, e := range evs {
		out.Events[i] = eventToWire(e)
	}
	return http.StatusOK, out, nil
}
