package engine

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// sameSums compares the figures kept with got's rows with fresh ones of
// want, built from the same rows read again (the cache's verifying mode):
// counts, names, and the kept allocator's slots and choices.
func sameSums(got *rowSet, want rowSet) error {
	g, w := got.sums, want.sums
	if !maps.Equal(nonZero(g.active), nonZero(w.active)) {
		return fmt.Errorf("kept active counts %v, rows say %v", g.active, w.active)
	}
	if !maps.Equal(g.perCtrl, w.perCtrl) {
		return fmt.Errorf("kept per-controller counts %v, rows say %v", g.perCtrl, w.perCtrl)
	}
	if g.orphans != w.orphans {
		return fmt.Errorf("kept %d attachments without disk, rows say %d", g.orphans, w.orphans)
	}
	if !reflect.DeepEqual(g.names.Values(), w.names.Values()) || !slices.Equal(keys(g.names.All()), keys(w.names.All())) {
		return fmt.Errorf("kept names %v, rows say %v", keys(g.names.All()), keys(w.names.All()))
	}
	for _, p := range namePrefixes {
		if a, b := trimZero(g.nameBits[p]), trimZero(w.nameBits[p]); !slices.Equal(a, b) {
			return fmt.Errorf("kept %s name bits %x, rows say %x", p, a, b)
		}
	}
	if g.alloc == nil {
		return nil
	}
	fresh, keep, err := want.buildAllocator()
	if err != nil || !keep {
		return fmt.Errorf("an allocator is kept, but the rows give none to keep (%v)", err)
	}
	if a, b := g.alloc.Slots(), fresh.Slots(); !reflect.DeepEqual(a, b) {
		return fmt.Errorf("kept allocator's slots differ from the rows':\n%+v\n%+v", a, b)
	}
	// The same choices: the next plain and boot addresses.
	for _, boot := range []bool{false, true} {
		a, errA := g.alloc.Fork().Plug("verify-probe", boot)
		b, errB := fresh.Fork().Plug("verify-probe", boot)
		if a != b || (errA == nil) != (errB == nil) {
			return fmt.Errorf("kept allocator plugs at %v (%v), the rows' at %v (%v)", a, errA, b, errB)
		}
	}
	return nil
}

func nonZero[K comparable](m map[K]int) map[K]int {
	out := map[K]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func trimZero(b []uint64) []uint64 {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func keys[V any](seq func(func(string, V) bool)) []string {
	var out []string
	for k := range seq {
		out = append(out, k)
	}
	return out
}
