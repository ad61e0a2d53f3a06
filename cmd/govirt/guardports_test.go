package main

import "testing"

func TestParseGuardPorts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want [2]uint16
		ok   bool
	}{
		{"", [2]uint16{}, true},
		{"20000-29999", [2]uint16{20000, 29999}, true},
		{"25000-25000", [2]uint16{25000, 25000}, true},
		{"29999-20000", [2]uint16{}, false},
		{"0-10", [2]uint16{}, false},
		{"20000", [2]uint16{}, false},
		{"20000-70000", [2]uint16{}, false},
		{"a-b", [2]uint16{}, false},
	} {
		got, err := parseGuardPorts(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseGuardPorts(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
