package pmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

type op struct {
	del bool
	key string
	val int
}

func TestMapOps(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []op
		want []string // key=val in order
	}{
		{"empty", nil, nil},
		{"one", []op{{key: "a", val: 1}}, []string{"a=1"}},
		{"ordered", []op{{key: "c", val: 3}, {key: "a", val: 1}, {key: "b", val: 2}}, []string{"a=1", "b=2", "c=3"}},
		{"replace", []op{{key: "a", val: 1}, {key: "a", val: 2}}, []string{"a=2"}},
		{"delete", []op{{key: "a", val: 1}, {key: "b", val: 2}, {del: true, key: "a"}}, []string{"b=2"}},
		{"delete missing", []op{{key: "a", val: 1}, {del: true, key: "z"}}, []string{"a=1"}},
		{"delete all", []op{{key: "a", val: 1}, {del: true, key: "a"}, {del: true, key: "a"}}, nil},
		{"byte order", []op{{key: "b", val: 1}, {key: "B", val: 2}, {key: "ab", val: 3}}, []string{"B=2", "ab=3", "b=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Map[int]
			for _, o := range tc.ops {
				if o.del {
					m = m.Delete(o.key)
				} else {
					m = m.Set(o.key, o.val)
				}
			}
			var got []string
			for k, v := range m.All() {
				got = append(got, fmt.Sprintf("%s=%d", k, v))
			}
			if !slices.Equal(got, tc.want) || m.Len() != len(tc.want) {
				t.Errorf("got %v (len %d), want %v", got, m.Len(), tc.want)
			}
		})
	}
}

func TestFromSorted(t *testing.T) {
	type kv struct {
		k string
		v int
	}
	key := func(x kv) string { return x.k }
	for _, tc := range []struct {
		name string
		in   []kv
		want []kv
	}{
		{"empty", nil, nil},
		{"sorted", []kv{{"a", 1}, {"b", 2}, {"c", 3}}, []kv{{"a", 1}, {"b", 2}, {"c", 3}}},
		{"unsorted", []kv{{"c", 3}, {"a", 1}, {"b", 2}}, []kv{{"a", 1}, {"b", 2}, {"c", 3}}},
		{"duplicates: last wins", []kv{{"b", 1}, {"a", 1}, {"b", 2}}, []kv{{"a", 1}, {"b", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := FromSorted(tc.in, key)
			var want Map[kv]
			for _, x := range tc.want {
				want = want.Set(x.k, x)
			}
			if got := m.Values(); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if m.Len() != len(tc.want) || !sameShape(m.root, want.root) {
				t.Errorf("FromSorted's tree differs from the one Set builds")
			}
		})
	}
}

// TestMapRandom applies random sets and deletes to a Map and a Go map and
// compares them after each step; every earlier version must still hold
// what it held (persistence), and the tree must stay a treap.
func TestMapRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type version struct {
		m    Map[int]
		want map[string]int
	}
	var versions []version
	var m Map[int]
	want := map[string]int{}
	for step := range 3000 {
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		if rng.IntN(3) == 0 {
			m = m.Delete(k)
			delete(want, k)
		} else {
			m = m.Set(k, step)
			want[k] = step
		}
		if step%97 == 0 {
			versions = append(versions, version{m, maps.Clone(want)})
		}
		if v, ok := m.Get(k); ok != hasKey(want, k) || ok && v != want[k] {
			t.Fatalf("step %d: Get(%s) = %d, %v", step, k, v, ok)
		}
	}
	versions = append(versions, version{m, want})
	for i, v := range versions {
		check(t, fmt.Sprint("version ", i), v.m, v.want)
	}
	// The same keys give the same tree whichever way it was built.
	keys := slices.Sorted(maps.Keys(want))
	built := FromSorted(keys, func(k string) string { return k })
	if !sameKeysShape(built.root, m.root) {
		t.Error("FromSorted's tree differs from the one built by Set and Delete")
	}
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

func check(t *testing.T, what string, m Map[int], want map[string]int) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("%s: len %d, want %d", what, m.Len(), len(want))
	}
	var keys []string
	for k, v := range m.All() {
		if w, ok := want[k]; !ok || w != v {
			t.Fatalf("%s: %s=%d, want %d (%v)", what, k, v, w, ok)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) || len(keys) != len(want) {
		t.Fatalf("%s: keys out of order or missing: %v", what, keys)
	}
	for k, w := range want {
		if v, ok := m.Get(k); !ok || v != w {
			t.Fatalf("%s: Get(%s) = %d, %v; want %d", what, k, v, ok, w)
		}
	}
	if !treap(m.root, "", "\xff\xff") {
		t.Fatalf("%s: not a treap", what)
	}
}

// treap checks the search order within (lo, hi) and the heap order.
func treap[V any](n *node[V], lo, hi string) bool {
	if n == nil {
		return true
	}
	if (lo != "" && n.key <= lo) || n.key >= hi || n.prio != priority(n.key) {
		return false
	}
	for _, c := range []*node[V]{n.left, n.right} {
		if c != nil && higher(c.prio, c.key, n.prio, n.key) {
			return false
		}
	}
	return treap(n.left, lo, n.key) && treap(n.right, n.key, hi)
}

func sameShape[V comparable](a, b *node[V]) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.key == b.key && a.val == b.val && sameShape(a.left, b.left) && sameShape(a.right, b.right)
}

func sameKeysShape[V, W any](a *node[V], b *node[W]) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.key == b.key && sameKeysShape(a.left, b.left) && sameKeysShape(a.right, b.right)
}

func BenchmarkSetIn16000(b *testing.B) {
	keys := make([]string, 16000)
	for i := range keys {
		keys[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	m := FromSorted(keys, func(k string) string { return k })
	i := 0
	for b.Loop() {
		m.Set(fmt.Sprintf("10000000-0000-4000-8000-%012d", i), "x")
		i++
	}
}
