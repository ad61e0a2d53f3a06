package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// kind is what the generic list, get, add and update need to know about
// one infrastructure collection, so that the four share one code path and
// one visibility rule.
type kind[M, W any] struct {
	obj  string // the permission object type, e.g. "data_center"
	what string // how a 404 names it
	list func(store.Tx, context.Context, store.ListOptions) ([]M, error)
	get  func(store.Tx, context.Context, string) (M, error)
	key  func(M) (id, name string)
	wire func(M) W
	many func([]W) any // the collection element around a list
}

var (
	dataCenters = kind[model.DataCenter, ovirt.DataCenter]{"data_center", "data center",
		store.Tx.ListDataCenters, store.Tx.GetDataCenter,
		func(m model.DataCenter) (string, string) { return m.ID, m.Name }, dataCenterToWire,
		func(w []ovirt.DataCenter) any { return ovirt.DataCenters{DataCenters: w} }}
	clusters = kind[model.Cluster, ovirt.Cluster]{"cluster", "cluster",
		store.Tx.ListClusters, store.Tx.GetCluster,
		func(m model.Cluster) (string, string) { return m.ID, m.Name }, clusterToWire,
		func(w []ovirt.Cluster) any { return ovirt.Clusters{Clusters: w} }}
	hosts = kind[model.Host, ovirt.Host]{"host", "host",
		store.Tx.ListHosts, store.Tx.GetHost,
		func(m model.Host) (string, string) { return m.ID, m.Name }, hostToWire,
		func(w []ovirt.Host) any { return ovirt.Hosts{Hosts: w} }}
	storageDomains = kind[model.StorageDomain, ovirt.StorageDomain]{"storage_domain", "storage domain",
		store.Tx.ListStorageDomains, store.Tx.GetStorageDomain,
		func(m model.StorageDomain) (string, string) { return m.ID, m.Name }, storageDomainToWire,
		func(w []ovirt.StorageDomain) any { return ovirt.StorageDomains{StorageDomains: w} }}
)

// idOf and nameOf read an object's key.
func (k kind[M, W]) idOf(m M) string   { id, _ := k.key(m); return id }
func (k kind[M, W]) nameOf(m M) string { _, n := k.key(m); return n }

// view runs one read in a read-only transaction and returns its result.
func view[T any](c *call, fn func(tx store.Tx) (T, error)) (T, error) {
	var out T
	err := c.s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// keepVisible keeps the items whose objects the caller may all see, at most
// max of them (0: all). It runs outside any transaction, since the Auth
// reads the store itself.
func keepVisible[T any](c *call, items []T, max int, objs func(T) []Object) ([]T, error) {
	// Checked in chunks: one read of the caller's permissions per chunk, and
	// a page stops being checked once it is full.
	const chunk = 512
	out := make([]T, 0, min(len(items), chunk))
	for start := 0; start < len(items); start += chunk {
		part := items[start:min(start+chunk, len(items))]
		sets := make([][]Object, len(part))
		for i, it := range part {
			sets[i] = objs(it)
		}
		ok, err := c.s.auth.VisibleAll(c.ctx, c.p, sets)
		if err != nil {
			return nil, err
		}
		for i, it := range part {
			if max > 0 && len(out) == max {
				return out, nil
			}
			if ok[i] {
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// visibleOf lists what the store matches and the caller may see. Max is
// applied after filtering, so that it counts what the caller gets.
func visibleOf[M, W any](c *call, k kind[M, W], o store.ListOptions) ([]M, error) {
	max := o.Max
	o.Max = 0
	all, err := view(c, func(tx store.Tx) ([]M, error) { return k.list(tx, c.ctx, o) })
	if err != nil {
		return nil, err
	}
	return keepVisible(c, all, max, func(m M) []Object { return []Object{{k.obj, k.idOf(m)}} })
}

// getOf reads one object. One the caller may not see is missing, as in
// oVirt, so that ids do not reveal what exists.
func getOf[M, W any](c *call, k kind[M, W], id string) (M, error) {
	missing := notFoundf("Entity not found: %s %s", k.what, id)
	m, err := view(c, func(tx store.Tx) (M, error) { return k.get(tx, c.ctx, id) })
	if errors.Is(err, store.ErrNotFound) {
		return m, missing
	}
	if err != nil {
		return m, err
	}
	ok, err := c.visible(Object{k.obj, id})
	if err == nil && !ok {
		err = missing
	}
	return m, err
}

// resolveRef turns a reference by id or by name into an id. A name must
// match exactly one object the caller may see.
func resolveRef[M, W any](c *call, k kind[M, W], r *ovirt.Ref) (string, error) {
	if r.ID != "" {
		return r.ID, nil
	}
	found, err := visibleOf(c, k, store.ListOptions{Name: *r.Name})
	if err != nil {
		return "", err
	}
	for _, m := range found {
		if k.nameOf(m) == *r.Name {
			return k.idOf(m), nil
		}
	}
	return "", notFoundf("Entity not found: %s %s", k.what, *r.Name)
}

func listAll[M, W any](c *call, k kind[M, W]) (int, any, error) {
	o, err := c.listOptions()
	if err != nil {
		return 0, nil, err
	}
	found, err := visibleOf(c, k, o)
	if err != nil {
		return 0, nil, err
	}
	out := make([]W, len(found))
	for i, m := range found {
		out[i] = k.wire(m)
	}
	return http.StatusOK, k.many(out), nil
}

func getOne[M, W any](c *call, k kind[M, W]) (int, any, error) {
	m, err := getOf(c, k, c.id("id"))
	return reply(k, http.StatusOK, m, err)
}

// reply renders a command's result, or its error.
func reply[M, W any](k kind[M, W], status int, m M, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return status, k.wire(m), nil
}

// addOne decodes a new object, lets build check it (required fields,
// references, the permission the body decides) and turn it into the
// model, and saves it; oVirt answers 201 with the object.
func addOne[M, W any](c *call, k kind[M, W], build func(W) (M, error), save func(context.Context, M) (M, error)) (int, any, error) {
	var in W
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	m, err := build(in)
	if err != nil {
		return 0, nil, err
	}
	m, err = save(c.ctx, m)
	return reply(k, http.StatusCreated, m, err)
}

// updateOne reads the current object, decodes the body and lets apply copy
// what the body has over the current values, then saves the result.
func updateOne[M, W any](c *call, k kind[M, W], apply func(W, *M) error, save func(context.Context, M) (M, error)) (int, any, error) {
	cur, err := getOf(c, k, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	var in W
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := apply(in, &cur); err != nil {
		return 0, nil, err
	}
	m, err := save(c.ctx, cur)
	return reply(k, http.StatusOK, m, err)
}

// removeOne runs a removal; oVirt answers 200 with an empty body.
func removeOne(c *call, rm func(context.Context, string) error) (int, any, error) {
	if err := rm(c.ctx, c.id("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// maxOnly reads max for a list that cannot be searched.
func maxOnly(c *call, what string) (int, error) {
	o, err := c.listOptions()
	if err == nil && o.Name != "" {
		err = badRequestf("%s cannot be searched.", what)
	}
	return o.Max, err
}

// findParent checks that an add's body has the fields it needs and the
// reference (named field in the fault) to the object the new one belongs
// to, resolves that reference and checks group on it.
func findParent[M, W any](c *call, entity string, needs []need, k kind[M, W], field string, r *ovirt.Ref, group string) (string, error) {
	if err := required(entity, append(needs, need{field, refOK(r)})...); err != nil {
		return "", err
	}
	id, err := resolveRef(c, k, r)
	if err != nil {
		return "", err
	}
	return id, c.require(group, Object{k.obj, id})
}

func (s *Server) listDataCenters(c *call) (int, any, error) { return listAll(c, dataCenters) }
func (s *Server) getDataCenter(c *call) (int, any, error)   { return getOne(c, dataCenters) }
func (s *Server) removeDataCenter(c *call) (int, any, error) {
	return removeOne(c, s.eng.RemoveDataCenter)
}

func (s *Server) addDataCenter(c *call) (int, any, error) {
	return addOne(c, dataCenters, func(in ovirt.DataCenter) (model.DataCenter, error) {
		if err := required("Data Center", need{"name", in.Name != nil}); err != nil {
			return model.DataCenter{}, err
		}
		dc := model.DataCenter{Version: model.Version48}
		return dc, applyDataCenter(in, &dc)
	}, s.eng.AddDataCenter)
}

func (s *Server) updateDataCenter(c *call) (int, any, error) {
	return updateOne(c, dataCenters, applyDataCenter, s.eng.UpdateDataCenter)
}

func (s *Server) listClusters(c *call) (int, any, error)  { return listAll(c, clusters) }
func (s *Server) getCluster(c *call) (int, any, error)    { return getOne(c, clusters) }
func (s *Server) removeCluster(c *call) (int, any, error) { return removeOne(c, s.eng.RemoveCluster) }
func (s *Server) updateCluster(c *call) (int, any, error) {
	return updateOne(c, clusters, applyCluster, s.eng.UpdateCluster)
}

// addCluster needs CREATE_CLUSTER on the data center the body names.
func (s *Server) addCluster(c *call) (int, any, error) {
	return addOne(c, clusters, func(in ovirt.Cluster) (model.Cluster, error) {
		dcID, err := findParent(c, "Cluster", []need{{"name", in.Name != nil}}, dataCenters, "data_center.id|name", in.DataCenter, agCreateCluster)
		cl := model.Cluster{DataCenterID: dcID, Version: model.Version48}
		if err != nil {
			return cl, err
		}
		return cl, applyCluster(in, &cl)
	}, s.eng.AddCluster)
}

func (s *Server) listHosts(c *call) (int, any, error)  { return listAll(c, hosts) }
func (s *Server) getHost(c *call) (int, any, error)    { return getOne(c, hosts) }
func (s *Server) removeHost(c *call) (int, any, error) { return removeOne(c, s.eng.RemoveHost) }
func (s *Server) updateHost(c *call) (int, any, error) {
	return updateOne(c, hosts, applyHost, s.eng.UpdateHost)
}

// addHost registers a host by the address of its agent; it needs
// CREATE_HOST on the cluster the body names.
// addHost registers a host by its agent's address (and port): the engine
// enrols the agent with the bootstrap secret it printed, which oVirt clients
// send as root_password, and stores nothing unless that worked.
func (s *Server) addHost(c *call) (int, any, error) {
	var in ovirt.Host
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	needs := []need{{"name", in.Name != nil}, {"address", in.Address != nil}}
	clID, err := findParent(c, "Host", needs, clusters, "cluster.id|name", in.Cluster, agCreateHost)
	if err != nil {
		return 0, nil, err
	}
	h := model.Host{ClusterID: clID, Name: *in.Name}
	if h.Address, err = agentTarget(*in.Address, in.Port); err != nil {
		return 0, nil, err
	}
	secret := ""
	if in.RootPassword != nil {
		secret = *in.RootPassword
	}
	h, err = s.eng.EnrollHost(c.ctx, h, secret)
	return reply(hosts, http.StatusCreated, h, err)
}

func (s *Server) listStorageDomains(c *call) (int, any, error) { return listAll(c, storageDomains) }
func (s *Server) getStorageDomain(c *call) (int, any, error)   { return getOne(c, storageDomains) }
func (s *Server) removeStorageDomain(c *call) (int, any, error) {
	return removeOne(c, s.eng.RemoveStorageDomain)
}

func (s *Server) updateStorageDomain(c *call) (int, any, error) {
	return updateOne(c, storageDomains, applyStorageDomain, s.eng.UpdateStorageDomain)
}

// addStorageDomain registers a directory as a data domain of one data
// center; it needs CREATE_STORAGE_DOMAIN on that data center.
func (s *Server) addStorageDomain(c *call) (int, any, error) {
	return addOne(c, storageDomains, func(in ovirt.StorageDomain) (model.StorageDomain, error) {
		if err := checkStorageKind(in); err != nil {
			return model.StorageDomain{}, err
		}
		dcRef, err := dataCenterRef(in)
		if err != nil {
			return model.StorageDomain{}, err
		}
		hasPath := in.Storage != nil && in.Storage.Path != nil
		needs := []need{{"name", in.Name != nil}, {"storage.path", hasPath}}
		dcID, err := findParent(c, "StorageDomain", needs, dataCenters, "data_centers.data_center.id|name", dcRef, agCreateStorageDomain)
		if err != nil {
			return model.StorageDomain{}, err
		}
		sd := model.StorageDomain{DataCenterID: dcID, Path: *in.Storage.Path}
		setStr(&sd.Name, in.Name)
		setStr(&sd.Description, in.Description)
		return sd, nil
	}, s.eng.AddStorageDomain)
}

// listStorageDomainDisks lists the image disks of a domain the caller may
// see, those disks too filtered by visibility; max applies, search not.
func (s *Server) listStorageDomainDisks(c *call) (int, any, error) {
	max, err := maxOnly(c, "The disks of a storage domain")
	if err != nil {
		return 0, nil, err
	}
	sd, err := getOf(c, storageDomains, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	all, err := view(c, func(tx store.Tx) ([]model.Disk, error) { return tx.ListDisksInStorageDomain(c.ctx, sd.ID) })
	if err != nil {
		return 0, nil, err
	}
	disks, err := keepVisible(c, all, max, func(d model.Disk) []Object { return []Object{{"disk", d.ID}} })
	if err != nil {
		return 0, nil, err
	}
	out := ovirt.Disks{Disks: make([]ovirt.Disk, len(disks))}
	for i, d := range disks {
		out.Disks[i] = s.diskToWire(d)
	}
	return http.StatusOK, out, nil
}
