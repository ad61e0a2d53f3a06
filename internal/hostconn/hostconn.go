// Package hostconn connects the engine to host agents: it implements
// engine.HostDialer by dialing each host's agent address (a unix socket for
// the local host) and keeping one client per host.
package hostconn

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/store"
)

// Dialer keeps one agent client per host.
type Dialer struct {
	st    store.Store
	creds credentials.TransportCredentials // for TCP agents (mTLS); nil: unix only

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	addr string
	c    *agentrpc.Client
}

// New returns a dialer. creds are the engine's mTLS client credentials for
// remote agents; with nil only unix-socket agents can be reached.
func New(st store.Store, creds credentials.TransportCredentials) *Dialer {
	return &Dialer{st: st, creds: creds, clients: map[string]*client{}}
}

var _ engine.HostDialer = (*Dialer)(nil)

// Host implements engine.HostDialer.
func (d *Dialer) Host(ctx context.Context, hostID string) (engine.Host, error) {
	return d.Client(ctx, hostID)
}

// Client returns the connected agent client of a host, dialing it when the
// host's address changed or no client exists yet.
func (d *Dialer) Client(ctx context.Context, hostID string) (*agentrpc.Client, error) {
	var addr string
	err := d.st.View(ctx, func(tx store.Tx) error {
		h, err := tx.GetHost(ctx, hostID)
		addr = h.Address
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", hostID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[hostID]; ok && c.addr == addr {
		return c.c, nil
	}
	var creds credentials.TransportCredentials
	if !strings.HasPrefix(addr, "unix:") {
		if d.creds == nil {
			return nil, fmt.Errorf("host %s at %s: remote agents need the engine's TLS credentials", hostID, addr)
		}
		creds = d.creds
	}
	c, err := agentrpc.Dial(ctx, addr, creds)
	if err != nil {
		return nil, fmt.Errorf("host %s at %s: %w", hostID, addr, err)
	}
	if old, ok := d.clients[hostID]; ok {
		old.c.Close()
	}
	d.clients[hostID] = &client{addr: addr, c: c}
	return c, nil
}

// Close closes every client.
func (d *Dialer) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.clients {
		c.c.Close()
		delete(d.clients, id)
	}
}
