package api

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/model"
)

// Conversions between the model and the wire types of data centers,
// clusters, hosts and storage domains. Output omits empty optional values,
// as oVirt does; input follows pointer semantics: an absent element keeps
// the current value (or the default, on add).

// storageTypeLocalFS is the only <storage><type> govirt has: a directory
// on the hosts, which the engine calls a file domain.
const storageTypeLocalFS = "localfs"

// setStr copies a present input string over dst.
func setStr(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}

func versionToWire(v model.Version) *ovirt.Version {
	return &ovirt.Version{Major: ovirt.I(int64(v.Major)), Minor: ovirt.I(int64(v.Minor))}
}

// versionFromWire reads <version><major/><minor/></version> over cur: a
// missing part keeps cur's. The engine decides whether the level exists.
func versionFromWire(w *ovirt.Version, cur model.Version) model.Version {
	if w == nil {
		return cur
	}
	if w.Major != nil {
		cur.Major = int(*w.Major)
	}
	if w.Minor != nil {
		cur.Minor = int(*w.Minor)
	}
	return cur
}

// dataCenterToWire renders a data center. govirt's data centers have no
// storage pool manager to elect, so they are up as soon as they exist, and
// they are shared (not oVirt's single-host local data centers).
func dataCenterToWire(dc model.DataCenter) ovirt.DataCenter {
	return ovirt.DataCenter{
		ID: dc.ID, Href: href("datacenters", dc.ID),
		Name: ovirt.Str(dc.Name), Description: optStr(dc.Description),
		Local: ovirt.B(false), Status: ovirt.Str("up"), Version: versionToWire(dc.Version),
	}
}

func applyDataCenter(in ovirt.DataCenter, dc *model.DataCenter) error {
	setStr(&dc.Name, in.Name)
	setStr(&dc.Description, in.Description)
	dc.Version = versionFromWire(in.Version, dc.Version)
	return nil
}

func clusterToWire(cl model.Cluster) ovirt.Cluster {
	return ovirt.Cluster{
		ID: cl.ID, Href: href("clusters", cl.ID),
		Name: ovirt.Str(cl.Name), Description: optStr(cl.Description),
		Version: versionToWire(cl.Version), DataCenter: ref("datacenters", cl.DataCenterID),
	}
}

// applyCluster sets what an update may change; the data center is fixed.
func applyCluster(in ovirt.Cluster, cl *model.Cluster) error {
	setStr(&cl.Name, in.Name)
	setStr(&cl.Description, in.Description)
	cl.Version = versionFromWire(in.Version, cl.Version)
	return sameRef(in.DataCenter, cl.DataCenterID, "data_center")
}

func hostToWire(h model.Host) ovirt.Host {
	w := ovirt.Host{
		ID: h.ID, Href: href("hosts", h.ID),
		Name: ovirt.Str(h.Name), Address: optStr(h.Address),
		Status: optStr(string(h.Status)), Cluster: ref("clusters", h.ClusterID),
	}
	if host, port, err := net.SplitHostPort(h.Address); err == nil && !strings.HasPrefix(h.Address, "unix:") {
		w.Address, w.Port = ovirt.Str(host), ovirt.Str(port)
	}
	return w
}

// DefaultAgentPort is where agents listen unless a host says otherwise: the
// port oVirt clients know as VDSM's.
const DefaultAgentPort = "54321"

// agentTarget joins a host's address and port into the agent's dial
// target; unix: addresses (the local host) have no port.
func agentTarget(address string, port *string) (string, error) {
	if strings.HasPrefix(address, "unix:") {
		if port != nil {
			return "", badRequestf("A unix-socket agent address takes no port.")
		}
		return address, nil
	}
	if _, _, err := net.SplitHostPort(address); err == nil && port == nil {
		return address, nil // host:port, as govirt's own clients send it
	}
	p := DefaultAgentPort
	if port != nil {
		p = *port
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", badRequestf("Port %q is not a TCP port.", p)
	}
	if address == "" || strings.ContainsAny(address, "/ ") {
		return "", badRequestf("Address %q is not a host name or IP address.", address)
	}
	return net.JoinHostPort(strings.Trim(address, "[]"), p), nil
}

// applyHost sets what an update may change. The status is the monitor's
// and, as in oVirt, read-only input is ignored; the cluster is fixed, and so
// is the agent's address: the engine's trust is bound to it (remove and add
// the host again to move it).
func applyHost(in ovirt.Host, h *model.Host) error {
	setStr(&h.Name, in.Name)
	if in.Address != nil || in.Port != nil {
		addr := h.Address
		if in.Address != nil {
			addr = *in.Address
		}
		host, port, _ := net.SplitHostPort(h.Address)
		if in.Address != nil {
			host = *in.Address
		}
		if in.Port != nil {
			port = *in.Port
		}
		if !strings.HasPrefix(addr, "unix:") {
			addr = net.JoinHostPort(host, port)
		}
		if addr != h.Address {
			return immutable("address")
		}
	}
	return sameRef(in.Cluster, h.ClusterID, "cluster")
}

func storageDomainToWire(sd model.StorageDomain) ovirt.StorageDomain {
	base := href("storagedomains", sd.ID)
	dc := ovirt.DataCenter{ID: sd.DataCenterID, Href: href("datacenters", sd.DataCenterID)}
	return ovirt.StorageDomain{
		ID: sd.ID, Href: base,
		Name: ovirt.Str(sd.Name), Description: optStr(sd.Description),
		Type:        ovirt.Str("data"),
		Storage:     &ovirt.Storage{Type: ovirt.Str(storageTypeLocalFS), Path: ovirt.Str(sd.Path)},
		DataCenters: &ovirt.DataCenters{DataCenters: []ovirt.DataCenter{dc}},
		Links:       links(base, "disks"),
	}
}

// applyStorageDomain sets what an update may change: disks live under the
// path, so neither it nor the data center moves.
func applyStorageDomain(in ovirt.StorageDomain, sd *model.StorageDomain) error {
	if in.Storage != nil && in.Storage.Path != nil && *in.Storage.Path != sd.Path {
		return immutable("storage.path")
	}
	if in.DataCenters != nil {
		for _, dc := range in.DataCenters.DataCenters {
			if dc.ID != "" && dc.ID != sd.DataCenterID {
				return immutable("data_centers")
			}
		}
	}
	setStr(&sd.Name, in.Name)
	setStr(&sd.Description, in.Description)
	return nil
}

// checkStorageKind refuses what govirt cannot serve: other domain types
// (ISO, export) and storage other than a directory.
func checkStorageKind(in ovirt.StorageDomain) error {
	if in.Type != nil && !strings.EqualFold(*in.Type, "data") {
		return badRequestf("Only data storage domains are supported, not %q.", *in.Type)
	}
	if in.Storage != nil && in.Storage.Type != nil && !strings.EqualFold(*in.Storage.Type, storageTypeLocalFS) {
		return badRequestf("Only storage of type %s (a directory on the hosts) is supported, not %q.", storageTypeLocalFS, *in.Storage.Type)
	}
	return nil
}

// dataCenterRef is the one data center a new storage domain names in
// <data_centers>; govirt's domains belong to exactly one.
func dataCenterRef(in ovirt.StorageDomain) (*ovirt.Ref, error) {
	if in.DataCenters == nil || len(in.DataCenters.DataCenters) == 0 {
		return nil, nil
	}
	if len(in.DataCenters.DataCenters) > 1 {
		return nil, badRequestf("A storage domain belongs to exactly one data center.")
	}
	dc := in.DataCenters.DataCenters[0]
	return &ovirt.Ref{ID: dc.ID, Name: dc.Name}, nil
}

// sameRef refuses a reference by id to other than the current object.
func sameRef(r *ovirt.Ref, cur, field string) error {
	if r != nil && r.ID != "" && r.ID != cur {
		return immutable(field)
	}
	return nil
}

// immutable is oVirt's answer to a PUT that changes a field it cannot.
func immutable(field string) error {
	return &httpError{http.StatusConflict, "Broken immutability constraint", "Attempt to set immutable field: " + field + "."}
}

// need is one required field of an add and whether the body has it.
type need struct {
	field string
	ok    bool
}

// required answers 400 naming every missing field, as oVirt's
// "Cluster [name, data_center.id|name] required for add" does.
func required(entity string, needs ...need) error {
	var missing []string
	for _, n := range needs {
		if !n.ok {
			missing = append(missing, n.field)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return badRequestf("%s [%s] required for add.", entity, strings.Join(missing, ", "))
}

// refOK tells whether a reference names its object by id or name.
func refOK(r *ovirt.Ref) bool {
	return r != nil && (r.ID != "" || r.Name != nil && *r.Name != "")
}
