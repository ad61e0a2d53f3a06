package api

import (
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/store"
)

// href builds an API path: href("vms", id, "diskattachments").
func href(parts ...string) string { return Prefix + "/" + strings.Join(parts, "/") }

// ref is a reference with id and href to collection/id.
func ref(collection, id string) *ovirt.Ref {
	if id == "" {
		return nil
	}
	return &ovirt.Ref{ID: id, Href: href(collection, id)}
}

// links builds the related-collection links of a resource.
func links(base string, rels ...string) []ovirt.Link {
	out := make([]ovirt.Link, len(rels))
	for i, r := range rels {
		out[i] = ovirt.Link{Href: base + "/" + r, Rel: r}
	}
	return out
}

// actions builds the action links of a resource.
func actions(base string, names ...string) *ovirt.Actions {
	return &ovirt.Actions{Links: links(base, names...)}
}

// listOptions reads oVirt's search (only name=… with * wildcards, and
// "page N", which keepPage applies) and max.
func (c *call) listOptions() (store.ListOptions, error) {
	q := c.r.URL.Query()
	var o store.ListOptions
	s, _, err := cutPage(strings.TrimSpace(q.Get("search")))
	if err != nil {
		return o, err
	}
	if s != "" {
		name, ok := strings.CutPrefix(s, "name=")
		if !ok {
			return o, badRequestf("Only name=… searches are supported, not %q.", s)
		}
		o.Name = strings.Trim(strings.TrimSpace(name), `"`)
	}
	if m := q.Get("max"); m != "" {
		n, err := parseNonNegative(m)
		if err != nil {
			return o, badRequestf("max must be a non-negative integer, not %q.", m)
		}
		o.Max = n
	}
	return o, nil
}
