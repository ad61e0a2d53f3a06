package engine

import (
	"testing"

	"github.com/govirt/govirt/internal/model"
)

func TestPickHost(t *testing.T) {
	a, b, c := model.Host{ID: "a", Name: "alpha"}, model.Host{ID: "b", Name: "bravo"}, model.Host{ID: "c", Name: "charlie"}
	cases := []struct {
		name      string
		up        []model.Host
		preferred []string
		load      map[string]int
		want      string // "" when none fits
	}{
		{"no host up", nil, nil, nil, ""},
		{"least loaded", []model.Host{a, b, c}, nil, map[string]int{"a": 2, "b": 0, "c": 1}, "b"},
		{"tie broken by name", []model.Host{c, b, a}, nil, map[string]int{"a": 1, "b": 1, "c": 1}, "a"},
		{"preferred host first, whatever its load", []model.Host{a, b}, []string{"b"}, map[string]int{"b": 9}, "b"},
		{"first preferred host that is up", []model.Host{a, c}, []string{"b", "c", "a"}, nil, "c"},
		{"preferred hosts none up", []model.Host{a}, []string{"b"}, nil, ""},
	}
	for _, tc := range cases {
		h, ok := pickHost(tc.up, tc.preferred, tc.load)
		if got := h.ID; got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: got %q (ok %v), want %q", tc.name, got, ok, tc.want)
		}
	}
}
