package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
// Entries are never changed once in the cache: their rows are persistent
// maps (rowSet), so a transaction, or a command's vmState, that changes a
// row makes a version of its own in O(log n) and the entry stays as it was;
// the figures kept with the rows (counts, names, the address allocator)
// are copied or forked before a version's first change. Every list handed
// to callers outside the engine is a deep copy.
//
// A read-write transaction that took the VM's lock (LockVM) and then loaded
// its rows keeps its copy in step with its own writes. At its end it reads
// the generation again: if the number moved by exactly its own writes,
// nobody else changed the rows (the lock keeps other writers out, and their
// triggers would have moved it further), and after the commit the copy
// becomes the cache's entry at that generation, as it is: nothing is
// copied or indexed again. Any other outcome drops the copy, and the next
// load reads the database.

// maxCachedVMs bounds the cache; beyond it an arbitrary entry goes.
const maxCachedVMs = 4096

// vmRows is one VM's rows at a generation.
type vmRows struct {
	gen  int64
	rows rowSet
	// writes counts the writes of the transaction holding this copy, each
	// of which moved the generation by one.
	writes int64
}

// share is a transaction's view of a cache entry: the same rows, whose
// next change makes versions of its own (rowSet).
func (r *vmRows) share() *vmRows {
	return &vmRows{gen: r.gen, rows: r.rows.share()}
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
	// Published: from now on only read, by any number of transactions.
	r.rows.owned = false
	if old, ok := c.m[id]; ok && old.gen > r.gen {
		return
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
		return &vmRows{rows: rowsFromLists(nil, nil, nil)}, nil
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
	devs, atts, disks, err := t.readLists(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return &vmRows{gen: gen, rows: rowsFromLists(devs, atts, disks)}, nil
}

func (t *cachingTx) readLists(ctx context.Context, vmID string) ([]model.VmDevice, []model.DiskAttachment, []model.Disk, error) {
	devs, err := t.Tx.ListDevicesOfVM(ctx, vmID)
	if err != nil {
		return nil, nil, nil, err
	}
	atts, err := t.Tx.ListAttachmentsOfVM(ctx, vmID)
	if err != nil {
		return nil, nil, nil, err
	}
	disks, err := t.Tx.ListDisksOfVM(ctx, vmID)
	if err != nil {
		return nil, nil, nil, err
	}
	return devs, atts, disks, nil
}

// check compares rows served from memory with the database's, and the
// figures kept with them (rowSums, the allocator) with ones computed
// afresh from the database's rows.
func (t *cachingTx) check(ctx context.Context, vmID string, r *vmRows) error {
	devs, atts, disks, err := t.readLists(ctx, vmID)
	if err != nil {
		return err
	}
	// On PostgreSQL a statement of a transaction without the VM's lock
	// sees what committed before it: the lists may be newer than r.gen.
	if gen, err := t.Tx.VMGeneration(ctx, vmID); err != nil || gen != r.gen {
		return err
	}
	gotDevs, gotAtts, gotDisks := r.rows.lists()
	for _, c := range []struct {
		what      string
		got, want any
	}{{"devices", gotDevs, devs}, {"attachments", gotAtts, atts}, {"disks", gotDisks, disks}} {
		if !reflect.DeepEqual(c.got, c.want) {
			return fmt.Errorf("vm %s: cached %s at generation %d differ from the database's:\n%+v\n%+v", vmID, c.what, r.gen, c.got, c.want)
		}
	}
	if err := sameSums(&r.rows, rowsFromLists(devs, atts, disks)); err != nil {
		return fmt.Errorf("vm %s at generation %d: %w", vmID, r.gen, err)
	}
	return nil
}

func (t *cachingTx) ListDevicesOfVM(ctx context.Context, vmID string) ([]model.VmDevice, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return r.rows.deviceList(), nil
}

func (t *cachingTx) ListAttachmentsOfVM(ctx context.Context, vmID string) ([]model.DiskAttachment, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return r.rows.atts.Values(), nil
}

func (t *cachingTx) ListDisksOfVM(ctx context.Context, vmID string) ([]model.Disk, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return nil, err
	}
	return r.rows.diskList(), nil
}

// loadRows returns the VM's rows without copying them (loadVM): a version
// of the cache entry's or of this transaction's own, which the caller may
// change without changing either.
func (t *cachingTx) loadRows(ctx context.Context, vmID string) (rowSet, error) {
	r, err := t.load(ctx, vmID)
	if err != nil {
		return rowSet{}, err
	}
	return r.rows.share(), nil
}

// tracked is the transaction's copy of a VM's rows, nil if it keeps none.
func (t *cachingTx) tracked(vmID string) *vmRows { return t.rows[vmID] }

// mirror applies one of the transaction's writes to its copy of the VM's
// rows, if it keeps one.
func (t *cachingTx) mirror(vmID string, change func(rs *rowSet)) {
	if r := t.tracked(vmID); r != nil {
		change(&r.rows)
		r.writes++
	}
}

func (t *cachingTx) InsertDevice(ctx context.Context, d model.VmDevice) error {
	if err := t.Tx.InsertDevice(ctx, d); err != nil {
		return err
	}
	t.mirror(d.VMID, func(rs *rowSet) { rs.setDevice(d) })
	return nil
}

func (t *cachingTx) UpdateDevice(ctx context.Context, d model.VmDevice) error {
	if err := t.Tx.UpdateDevice(ctx, d); err != nil {
		return err
	}
	t.mirror(d.VMID, func(rs *rowSet) { rs.setDevice(d) })
	return nil
}

func (t *cachingTx) DeleteDevice(ctx context.Context, vmID, id string) error {
	if err := t.Tx.DeleteDevice(ctx, vmID, id); err != nil {
		return err
	}
	t.mirror(vmID, func(rs *rowSet) { rs.deleteDevice(id) })
	return nil
}

func (t *cachingTx) InsertAttachment(ctx context.Context, a model.DiskAttachment) error {
	if err := t.Tx.InsertAttachment(ctx, a); err != nil {
		return err
	}
	if t.tracked(a.VMID) != nil {
		d, err := t.Tx.GetDisk(ctx, a.DiskID)
		if err != nil {
			return err
		}
		t.mirror(a.VMID, func(rs *rowSet) {
			rs.setDisk(d)
			rs.setAttachment(a)
		})
	}
	return nil
}

func (t *cachingTx) UpdateAttachment(ctx context.Context, a model.DiskAttachment) error {
	if err := t.Tx.UpdateAttachment(ctx, a); err != nil {
		return err
	}
	t.mirror(a.VMID, func(rs *rowSet) { rs.setAttachment(a) })
	return nil
}

func (t *cachingTx) DeleteAttachment(ctx context.Context, vmID, diskID string) error {
	if err := t.Tx.DeleteAttachment(ctx, vmID, diskID); err != nil {
		return err
	}
	t.mirror(vmID, func(rs *rowSet) {
		rs.deleteAttachment(diskID)
		rs.deleteDisk(diskID)
	})
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
		if r.rows.disks.Has(d.ID) {
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
