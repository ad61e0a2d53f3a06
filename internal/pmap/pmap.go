// Package pmap is a persistent (immutable) map from strings to values, kept
// in key order: every change returns a new map that shares all but O(log n)
// nodes with the old one, which stays valid and unchanged.
//
// The engine keeps a VM's rows in these maps so that a command changing one
// row of a VM with 16,000 disks copies a few nodes instead of every row,
// and a cache entry can be shared by any number of readers while a writer
// derives the next one from it.
package pmap

import (
	"cmp"
	"iter"
	"slices"
)

// Map is a persistent ordered map. The zero value is the empty map. Values
// are stored as they are given: a value holding pointers shares what they
// point to with every version that holds it, so callers must not change
// that either.
type Map[V any] struct {
	root *node[V]
	n    int
}

// node is one entry of a treap: a binary search tree by key and a heap by
// prio, which is a hash of the key. The shape of the tree is therefore a
// function of its keys alone, and its depth is O(log n) in expectation.
type node[V any] struct {
	key         string
	prio        uint64
	left, right *node[V]
	val         V
}

// priority hashes a key (FNV-1a, then a 64-bit finaliser to spread the
// bits): deterministic, so equal key sets give equal trees.
func priority(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// higher orders nodes in the heap: by priority, ties by key.
func higher(p uint64, k string, q uint64, l string) bool {
	return p > q || p == q && k < l
}

// Len is the number of entries.
func (m Map[V]) Len() int { return m.n }

// Get returns the value at key.
func (m Map[V]) Get(key string) (V, bool) {
	for n := m.root; n != nil; {
		switch c := cmp.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Has tells whether key is in m.
func (m Map[V]) Has(key string) bool {
	_, ok := m.Get(key)
	return ok
}

// Set returns m with key set to val.
func (m Map[V]) Set(key string, val V) Map[V] {
	root, added := set(m.root, key, priority(key), val)
	if added {
		m.n++
	}
	m.root = root
	return m
}

func set[V any](n *node[V], key string, prio uint64, val V) (*node[V], bool) {
	if n == nil {
		return &node[V]{key: key, prio: prio, val: val}, true
	}
	c := cmp.Compare(key, n.key)
	if c == 0 {
		cp := *n
		cp.val = val
		return &cp, false
	}
	if higher(prio, key, n.prio, n.key) {
		// The new node goes here: it cannot already be in the subtree,
		// whose priorities are all lower.
		l, r := split(n, key)
		return &node[V]{key: key, prio: prio, val: val, left: l, right: r}, true
	}
	cp := *n
	var added bool
	if c < 0 {
		cp.left, added = set(n.left, key, prio, val)
	} else {
		cp.right, added = set(n.right, key, prio, val)
	}
	return &cp, added
}

// split returns copies of the parts of n with keys below and above key
// (key itself is not in n).
func split[V any](n *node[V], key string) (*node[V], *node[V]) {
	if n == nil {
		return nil, nil
	}
	cp := *n
	if n.key < key {
		cp.right, n = split(n.right, key)
		return &cp, n
	}
	l, r := split(n.left, key)
	cp.left = r
	return l, &cp
}

// Delete returns m without key.
func (m Map[V]) Delete(key string) Map[V] {
	root, removed := del(m.root, key)
	if removed {
		m.n--
		m.root = root
	}
	return m
}

func del[V any](n *node[V], key string) (*node[V], bool) {
	if n == nil {
		return nil, false
	}
	c := cmp.Compare(key, n.key)
	if c == 0 {
		return merge(n.left, n.right), true
	}
	var sub *node[V]
	var removed bool
	if c < 0 {
		sub, removed = del(n.left, key)
	} else {
		sub, removed = del(n.right, key)
	}
	if !removed {
		return n, false
	}
	cp := *n
	if c < 0 {
		cp.left = sub
	} else {
		cp.right = sub
	}
	return &cp, true
}

// merge joins a and b, every key of a below every key of b.
func merge[V any](a, b *node[V]) *node[V] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case higher(a.prio, a.key, b.prio, b.key):
		cp := *a
		cp.right = merge(a.right, b)
		return &cp
	}
	cp := *b
	cp.left = merge(a, b.left)
	return &cp
}

// All yields the entries in key order.
func (m Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		walk(m.root, yield)
	}
}

func walk[V any](n *node[V], yield func(string, V) bool) bool {
	for n != nil {
		if !walk(n.left, yield) || !yield(n.key, n.val) {
			return false
		}
		n = n.right
	}
	return true
}

// Values returns the values in key order.
func (m Map[V]) Values() []V {
	out := make([]V, 0, m.n)
	for _, v := range m.All() {
		out = append(out, v)
	}
	return out
}

// FromSorted builds a map of vals, keyed by key(v), in O(n) when the keys
// come in increasing order (as a database lists rows by primary key), and
// in O(n log n) otherwise. Of equal keys the last value wins.
func FromSorted[V any](vals []V, key func(V) string) Map[V] {
	sorted := true
	for i := 1; i < len(vals) && sorted; i++ {
		sorted = key(vals[i-1]) < key(vals[i])
	}
	if !sorted {
		vals = slices.Clone(vals)
		slices.SortStableFunc(vals, func(a, b V) int { return cmp.Compare(key(a), key(b)) })
		vals = dedupLast(vals, key)
	}
	// A Cartesian tree by a stack: each node's left child is the last
	// node it pops (all lower priorities), and it becomes the right child
	// of the node left on top.
	nodes := make([]node[V], len(vals))
	var stack []*node[V]
	for i, v := range vals {
		x := &nodes[i]
		x.key, x.val = key(v), v
		x.prio = priority(x.key)
		var last *node[V]
		for len(stack) > 0 && higher(x.prio, x.key, stack[len(stack)-1].prio, stack[len(stack)-1].key) {
			last, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		x.left = last
		if len(stack) > 0 {
			stack[len(stack)-1].right = x
		}
		stack = append(stack, x)
	}
	m := Map[V]{n: len(vals)}
	if len(stack) > 0 {
		m.root = stack[0]
	}
	return m
}

// dedupLast keeps the last of each run of equal keys in sorted vals.
func dedupLast[V any](vals []V, key func(V) string) []V {
	out := vals[:0]
	for i, v := range vals {
		if i+1 < len(vals) && key(vals[i+1]) == key(v) {
			continue
		}
		out = append(out, v)
	}
	return out
}
