package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// ListHosts lists the hosts the caller may see.
func (c *Client) ListHosts(ctx context.Context, search string) ([]ovirt.Host, error) {
	var out ovirt.Hosts
	err := c.do(ctx, http.MethodGet, "/hosts", searchQuery(search), nil, &out)
	return nonNil(out.Hosts), err
}

// AddHost enrols the agent at address:port into a cluster with the
// bootstrap secret it printed (empty for an agent that already trusts this
// engine) and returns the host, up.
func (c *Client) AddHost(ctx context.Context, name, address, port, cluster, secret string) (ovirt.Host, error) {
	in := ovirt.Host{Name: ovirt.Str(name), Address: ovirt.Str(address), Cluster: &ovirt.Ref{Name: ovirt.Str(cluster)}}
	if port != "" {
		in.Port = ovirt.Str(port)
	}
	if secret != "" {
		in.RootPassword = ovirt.Str(secret)
	}
	var out ovirt.Host
	err := c.do(ctx, http.MethodPost, "/hosts", nil, &in, &out)
	return out, err
}

// RemoveHost unregisters a host that runs no VM.
func (c *Client) RemoveHost(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/hosts/"+url.PathEscape(id), nil, nil, nil)
}
