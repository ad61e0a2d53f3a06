package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// The VM row cache. Every command on a VM used to read all of the VM's
// device rows, attachments and disks, so attaching n disks one command each
// read O(n²) rows: 1,000 disks took 12 s on SQLite, 80% of it in loading.
// cachingStore keeps each VM's rows as of its generation (store.VMs
// VMGeneration, bumped by database triggers on any change to them, by any
// process) and serves a load that finds the generation unchanged from
// memory, one small query instead of three large ones.
//
// Entries are never changed once in the cache: a transaction shares an
// entry's slices and copies them only before its first write (vmRows.own),
// and every list it returns is a copy.
//
// A read-write transaction that took the VM's lock (LockVM) and then loaded
// its rows keeps its copy in step with its own writes. At its end it reads
// the generation again: if the number moved by exactly its own writes,
// nobody else changed the rows (the lock keeps other writers out, and their
// triggers would have moved it further), and after the commit the copy
// becomes the cache's entry at that generation. Any other outcome drops the
// copy, and the next load reads the database. Rows handed out are deep
// copies: no caller can change the cache.

// maxCachedVMs bounds the cache; beyond it an arbitrary entry goes.
const maxCachedVMs = 4096

// vmRows is one VM's rows at a generation, each slice in the order the
// store lists it (ids byte-wise).
type vmRows struct {
	gen         int64
	devices     []model.VmDevice
	attachments []model.DiskAttachment
	disks       []model.Disk
	// writes counts the writes of the transaction holding this copy, each
	// of which moved the generation by one.
	writes int64
	// shared says the slices are the cache entry's: a transaction reads
	// them as they are and copies them (own) only before its first write,
	// so a load served from memory costs no copy of thousands of rows.
	shared bool
	// byID indexes disks by id, built once per entry and shared by every
	// transaction that reads it (nil after a write: built again on need).
	byID *diskIndex
}

// diskIndex is a read-only map of a VM's disks by id, and the positions
// of its attachments and disk devices (vmState's rowIndex), built on first
// use.
type diskIndex struct {
	once, posOnce sync.Once
	m             map[string]model.Disk
	missing       string // an attached disk not in m (see missingDisk)
	atts, devs    map[string]int
}

// rowIndex returns the positions of r's attachments and disk devices, for
// a vmState whose lists are copies of r's. The maps are shared: read only.
func (r *vmRows) rowIndex() rowIndex {
	if r.byID == nil {
		r.byID = &diskIndex{}
	}
	ix := r.byID
	ix.posOnce.Do(func() {
		ix.atts, ix.devs = indexAttachments(r.attachments), indexDiskDevices(r.devices)
	})
	return rowIndex{atts: ix.atts, devs: ix.devs, nAtts: len(r.attachments), nDevs: len(r.devices), builtA: true, builtD: true}
}

// disksByID returns r's disks by id. The map is shared: read it only.
func (r *vmRows) disksByID() map[string]model.Disk {
	if r.byID == nil {
		r.byID = &diskIndex{}
	}
	ix := r.byID
	ix.once.Do(func() {
		ix.m = make(map[string]model.Disk, len(r.disks))
		for _, d := range r.disks {
			ix.m[d.ID] = d
		}
		ix.missing = missingDisk(r.attachments, ix.m)
	})
	return ix.m
}

// own gives r slices of its own before the transaction changes them.
func (r *vmRows) own() {
	if r.shared {
		r.devices, r.attachments, r.disks = cloneDevices(r.devices), slices.Clone(r.attachments), cloneDisks(r.disks)
		r.shared = false
	}
	r.byID = nil
}

// share is a transaction's view of a cache entry: the same slices, to be
// copied before any write.
func (r *vmRows) share() *vmRows {
	return &vmRows{gen: r.gen, devices: r.devices, attachments: r.attachments, disks: r.disks, shared: true, byID: r.byID}
}

func cloneDevices(in []model.VmDevice) []model.VmDevice {
	out := make([]model.VmDevice, len(in))
	for i, d := range in {
		out[i] = cloneDevice(d)
	}
	return out
}

func cloneDevice(d model.VmDevice) model.VmDevice {
	if d.Address != nil {
		a := *d.Address
		d.Address = &a
	}
	if d.Controller != nil {
		c := *d.Controller
		d.Controller = &c
	}
	return d
}

func cloneDisks(in []model.Disk) []model.Disk {
	out := make([]model.Disk, len(in))
	for i, d := range in {
		out[i] = cloneDisk(d)
	}
	return out
}

func cloneDisk(d model.Disk) model.Disk {
	if d.LUN != nil {
		l := *d.LUN
		d.LUN = &l
	}
	return d
}

// vmCache holds the committed entries.
type vmCache struct {
	mu sync.Mutex
	m  map[string]*vmRows
}

func (c *vmCache) get(id string) *vmRows {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// put keeps r unless the cache has a later generation.
func (c *vmCache) put(id string, r *vmRows) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[id]; ok && old.gen > r.gen {
		return
	}
	if r.byID == nil {
		// Built on first use, once, by whichever transaction needs it.
		r.byID = &diskIndex{}
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedVMs {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[id] = r
}

func (c *vmCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// cachingStore is the engine's store: the database's, with the cache in
// front of the three lists of a VM's rows.
type cachingStore struct {
	store.Store
	cache *vmCache
	// verify makes every load served from memory read the database too
	// and fail on any difference (tests).
	verify bool
}

func newCachingStore(st store.Store) *cachingStore {
	return &cachingStore{Store: st, cache: &vmCache{m: map[string]*vmRows{}}}
}

// Tx runs fn with a transaction that keeps loaded VMs' rows in step, and
// publishes them after the commit.
func (c *cachingStore) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	var t *cachingTx
	err := c.Store.Tx(ctx, func(tx store.Tx) error {
		t = &cachingTx{Tx: tx, c: c, write: true, locked: map[string]bool{}, rows: map[string]*vmRows{}, gone: map[string]bool{}}
		if err := fn(t); err != nil {
			return err
		}
		return t.finish(ctx)
	})
	if err == nil && t != nil {
		t.publish()
	}
	return err
}

// View serves loads from the cache when the generation matches, and fills
// it on a miss.
func (c *cachingStore) View(ctx context.Context, fn func(tx store.Tx) error) error {
	return c.Store.View(ctx, func(tx store.Tx) error { return fn(&cachingTx{Tx: tx, c: c}) })
}

// cachingTx is one transaction of a cachingStore.
type cachingTx struct {
	store.Tx
	c      *cachingStore
	write  bool
	locked map[string]bool    // VMs locked in this transaction
	rows   map[string]*vmRows // VMs loaded after their lock, kept in step
	gone   map[string]bool    // VMs deleted
}

func (t *cachingTx) LockVM(ctx context.Context, id string) error {
	if err := t.Tx.LockVM(ctx, id); err != nil {
		return err
	}
	if t.write {
		t.locked[id] = true
	}
	return nil
}

// load returns the VM's rows: the transaction's copy, the cache's entry at
// the current generation, or the database's.
func (t *cachingTx) load(ctx context.Context, vmID string) (*vmRows, error) {
	gen, err := t.Tx.VMGeneration(ctx, vmID)
	if r, ok := t.rows[vmID]; ok {
		// The copy is current unless a write this transaction does not
		// mirror (a store method added later) moved the generation.
		if err == nil && gen == r.gen+r.writes {
			return r, nil
		}
		delete(t.rows, vmID)
	}
	if errors.Is(err, store.ErrNotFound) {
		// As the lists of a missing VM: empty.
		return &vmRows{devices: []model.VmDevice{}, attachments: []model.DiskAttachment{}, disks: []model.Disk{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var r *vmRows
	if hit := t.c.cache.get(vmID); hit != nil && hit.gen == gen {
		r = hit.share()
		if t.c.verify {
			if err := t.check(ctx, vmID, r); err != nil {
				return nil, err
			}
		}
	} else {
		if r, err = t.read(ctx, vmID, gen); err != nil {
			return nil, err
		}
		// A read-only transaction's rows are committed ones: they go to the
		// cache if the generation did not move while they were read (on
		// PostgreSQL each statement may see a later commit).
		if !t.write {
			if again, err := t.Tx.VMGeneration(ctx, vmID); err == nil && again == gen {
				t.c.cache.put(vmID, r)
			}
		}
	}
	if t.write && t.locked[vmID] {
		t.rows[vmID] = r
	}
	return r, nil
}

// read loads the rows from the database.
func (t *cachingTx) read(ctx context.Context, vmID string, gen int64) (*vmRows, error) {
	r := &vmRows{gen: gen}
	var err error
	if r.devices, err = t.Tx.ListDevicesOfVM(ctx, vmID); err != nil {
		return nil, err
	}
	if r.attachments, err = t.Tx.ListAttachmentsOfVM(ctx, vmID); err != nil {
		return nil, err
	}
	if r.disks, err = t.Tx.ListDisksOfVM(ctx, vmID); err != nil {
		return nil, err
	}
	return r, nil
}

// check compares rows served from memory with the database's.
func (t *cachingTx) check(ctx context.Context, vmID string, r *vmRows) error {
	db, err := t.read(ctx, vmID, r.gen)
	if err != nil {
		return err
	}
	// On PostgreSQL a statement of a transaction without the VM's lock
	// sees what committed before it: the lists may be newer than r.gen.
	if gen, err := t.Tx.VMGeneration(ctx, vmID); err != nil || gen != r.gen {
		return err
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{{"devices", r.devices, db.devices}, {"attachments", r.attachments, db.attachments}, {"disks", r.disks, db.disks}} {
		if !reflect.DeepEqual(c.got, c.want) {
			return fmt.Errorf("vm %s: cached %s at generation %d differ from the database's:\n%+v\n%+v", vmID, c.what, r.gen, c.got, c.want)
		}
	}
	return nil
}

func (t *cachingTx) ListDevicesOfVM(ctx context.Context, vmID string) ([]model.VmDevice, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return cloneDevices(r.devices), nil
}

func (t *cachingTx) ListAttachmentsOfVM(ctx context.Context, vmID string) ([]model.DiskAttachment, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return slices.Clone(r.attachments), nil
}

// sharedDisksOfVM is ListDisksOfVM by id without a copy: the map may be
// the cache's, so the caller must not change it (disksOfVM, vmState).
func (t *cachingTx) sharedDisksOfVM(ctx context.Context, vmID string) (map[string]model.Disk, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return r.disksByID(), nil
}

// sharedRows is what loadVM takes from one load of a VM's rows.
type sharedRows struct {
	devices     []model.VmDevice
	attachments []model.DiskAttachment
	shared      bool // the lists are the cache's: read only
	disks       map[string]model.Disk
	idx         rowIndex
	missing     string // an attached disk without its disk row (missingDisk)
}

// loadShared returns the VM's rows without copying them when they are a
// cache entry's or this transaction does not change them; the rows it
// keeps in step with its writes (changed in place) are copied.
func (t *cachingTx) loadShared(ctx context.Context, vmID string) (sharedRows, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return sharedRows{}, err
	}
	v := sharedRows{devices: r.devices, attachments: r.attachments, shared: true, disks: r.disksByID(), idx: r.rowIndex()}
	if !r.shared && t.rows[vmID] == r {
		v.devices, v.attachments, v.shared = cloneDevices(r.devices), slices.Clone(r.attachments), false
	}
	v.missing = r.byID.missing
	return v, nil
}

func (t *cachingTx) ListDisksOfVM(ctx context.Context, vmID string) ([]model.Disk, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return cloneDisks(r.disks), nil
}

// tracked is the transaction's copy of a VM's rows, nil if it keeps none.
func (t *cachingTx) tracked(vmID string) *vmRows { return t.rows[vmID] }

func (t *cachingTx) InsertDevice(ctx context.Context, d model.VmDevice) error {
	if err := t.Tx.InsertDevice(ctx, d); err != nil {
		return err
	}
	if r := t.tracked(d.VMID); r != nil {
		r.own()
		r.devices = upsert(r.devices, cloneDevice(d), func(x model.VmDevice) string { return x.ID })
		r.writes++
	}
	return nil
}

func (t *cachingTx) UpdateDevice(ctx context.Context, d model.VmDevice) error {
	if err := t.Tx.UpdateDevice(ctx, d); err != nil {
		return err
	}
	if r := t.tracked(d.VMID); r != nil {
		r.own()
		r.devices = upsert(r.devices, cloneDevice(d), func(x model.VmDevice) string { return x.ID })
		r.writes++
	}
	return nil
}

func (t *cachingTx) DeleteDevice(ctx context.Context, vmID, id string) error {
	if err := t.Tx.DeleteDevice(ctx, vmID, id); err != nil {
		return err
	}
	if r := t.tracked(vmID); r != nil {
		r.own()
		r.devices = remove(r.devices, id, func(x model.VmDevice) string { return x.ID })
		r.writes++
	}
	return nil
}

func (t *cachingTx) InsertAttachment(ctx context.Context, a model.DiskAttachment) error {
	if err := t.Tx.InsertAttachment(ctx, a); err != nil {
		return err
	}
	if r := t.tracked(a.VMID); r != nil {
		d, err := t.Tx.GetDisk(ctx, a.DiskID)
		if err != nil {
			return err
		}
		r.own()
		r.attachments = upsert(r.attachments, a, attachmentKey)
		r.disks = upsert(r.disks, cloneDisk(d), func(x model.Disk) string { return x.ID })
		r.writes++
	}
	return nil
}

func (t *cachingTx) UpdateAttachment(ctx context.Context, a model.DiskAttachment) error {
	if err := t.Tx.UpdateAttachment(ctx, a); err != nil {
		return err
	}
	if r := t.tracked(a.VMID); r != nil {
		r.own()
		r.attachments = upsert(r.attachments, a, attachmentKey)
		r.writes++
	}
	return nil
}

func (t *cachingTx) DeleteAttachment(ctx context.Context, vmID, diskID string) error {
	if err := t.Tx.DeleteAttachment(ctx, vmID, diskID); err != nil {
		return err
	}
	if r := t.tracked(vmID); r != nil {
		r.own()
		r.attachments = remove(r.attachments, diskID, attachmentKey)
		r.disks = remove(r.disks, diskID, func(x model.Disk) string { return x.ID })
		r.writes++
	}
	return nil
}

// UpdateDisk stops keeping the VMs that have the disk: a change of
// Shareable cascades in the database in ways not worth mirroring, and disk
// updates are rare.
func (t *cachingTx) UpdateDisk(ctx context.Context, d model.Disk) error {
	if err := t.Tx.UpdateDisk(ctx, d); err != nil {
		return err
	}
	for id, r := range t.rows {
		if _, ok := slices.BinarySearchFunc(r.disks, d.ID, func(x model.Disk, id string) int { return strings.Compare(x.ID, id) }); ok {
			delete(t.rows, id)
		}
	}
	return nil
}

func (t *cachingTx) DeleteVM(ctx context.Context, id string) error {
	if err := t.Tx.DeleteVM(ctx, id); err != nil {
		return err
	}
	if t.write {
		delete(t.rows, id)
		t.gone[id] = true
	}
	return nil
}

// finish reads, inside the transaction, the generation of each VM it
// keeps, and stops keeping those changed by anything but its own writes.
func (t *cachingTx) finish(ctx context.Context) error {
	for id, r := range t.rows {
		gen, err := t.Tx.VMGeneration(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			delete(t.rows, id)
			continue
		}
		if err != nil {
			return err
		}
		if gen != r.gen+r.writes {
			delete(t.rows, id)
			continue
		}
		r.gen, r.writes = gen, 0
	}
	return nil
}

// publish hands the committed copies to the cache.
func (t *cachingTx) publish() {
	for id := range t.gone {
		t.c.cache.drop(id)
	}
	for id, r := range t.rows {
		t.c.cache.put(id, r)
	}
}

func attachmentKey(a model.DiskAttachment) string { return a.DiskID }

// upsert replaces the element with v's key or inserts v in key order.
func upsert[T any](s []T, v T, key func(T) string) []T {
	i, found := slices.BinarySearchFunc(s, key(v), func(x T, k string) int { return strings.Compare(key(x), k) })
	if found {
		s[i] = v
		return s
	}
	return slices.Insert(s, i, v)
}

// remove deletes the element with key k.
func remove[T any](s []T, k string, key func(T) string) []T {
	i, found := slices.BinarySearchFunc(s, k, func(x T, k string) int { return strings.Compare(key(x), k) })
	if found {
		return slices.Delete(s, i, i+1)
	}
	return s
}
