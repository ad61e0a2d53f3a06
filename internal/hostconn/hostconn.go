// Package hostconn connects the engine to host agents: it implements
// engine.HostDialer by dialing each host's agent address (a unix socket for
// the local host, mutual TLS for remote ones) and keeping one client per
// host, and engine.Enroller by taking new agents under the engine's CA.
package hostconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/enroll"
	"github.com/govirt/govirt/internal/pki"
	"github.com/govirt/govirt/internal/store"
)

// TLS is the engine's PKI for remote agents.
type TLS struct {
	CA    *pki.CA
	Files pki.EngineFiles
}

// Dialer keeps one agent client per host.
type Dialer struct {
	st  store.Store
	tls *TLS // nil: unix-socket agents only

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	addr string
	c    *agentrpc.Client
}

// New returns a dialer. With tls nil only unix-socket agents can be reached.
func New(st store.Store, tls *TLS) *Dialer {
	return &Dialer{st: st, tls: tls, clients: map[string]*client{}}
}

var (
	_ engine.HostDialer = (*Dialer)(nil)
	_ engine.Enroller   = (*Dialer)(nil)
)

// ErrWrongAgent: the address answers with another host's agent.
var ErrWrongAgent = errors.New("hostconn: the agent at this address is another host")

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
	c, err := d.dial(ctx, addr, hostID)
	if err != nil {
		return nil, err
	}
	if old, ok := d.clients[hostID]; ok {
		old.c.Close()
	}
	d.clients[hostID] = &client{addr: addr, c: c}
	return c, nil
}

// dial connects to the agent at addr and checks it is hostID's agent
// (wantID empty: any).
func (d *Dialer) dial(ctx context.Context, addr, wantID string) (*agentrpc.Client, error) {
	creds, err := d.creds(addr)
	if err != nil {
		return nil, err
	}
	c, err := agentrpc.Dial(ctx, addr, creds)
	if err != nil {
		return nil, fmt.Errorf("agent at %s: %w", addr, err)
	}
	if wantID != "" && c.HostID() != wantID {
		c.Close()
		return nil, fmt.Errorf("%w: %s answers as host %s, not %s", ErrWrongAgent, addr, c.HostID(), wantID)
	}
	return c, nil
}

func (d *Dialer) creds(addr string) (credentials.TransportCredentials, error) {
	if strings.HasPrefix(addr, "unix:") {
		return nil, nil
	}
	if d.tls == nil {
		return nil, fmt.Errorf("agent at %s: remote agents need the engine's TLS credentials", addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("agent address %q: %w", addr, err)
	}
	f := d.tls.Files
	return agentrpc.ClientTLS(f.Cert, f.Key, f.CACert, host)
}

// enrolledDialTimeout bounds how long an agent that just installed its
// certificate may take to serve mutual TLS on its address.
const enrolledDialTimeout = 15 * time.Second

// Enroll implements engine.Enroller: with a secret it enrols the agent at
// addr under the engine's CA; without one the agent must already trust the
// engine (a host removed and added again). Either way it returns the id the
// agent answers to over mutual TLS.
func (d *Dialer) Enroll(ctx context.Context, addr, secret string) (string, error) {
	if strings.HasPrefix(addr, "unix:") {
		c, err := d.dial(ctx, addr, "")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.HostID(), nil
	}
	if d.tls == nil {
		return "", fmt.Errorf("agent at %s: the engine has no CA for remote agents", addr)
	}
	want := ""
	if secret != "" {
		res, err := enroll.Enrol(ctx, addr, secret, d.tls.CA)
		if errors.Is(err, enroll.ErrBadSecret) {
			return "", fmt.Errorf("%w: %w", engine.ErrBadSecret, err)
		}
		if err != nil {
			return "", err
		}
		want = res.HostID
	}
	dctx, cancel := context.WithTimeout(ctx, enrolledDialTimeout)
	defer cancel()
	for {
		c, err := d.dial(dctx, addr, want)
		if err == nil {
			defer c.Close()
			return c.HostID(), nil
		}
		if secret == "" || errors.Is(err, ErrWrongAgent) || dctx.Err() != nil {
			return "", err
		}
		select {
		case <-dctx.Done():
			return "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Forget drops a host's client, so the next call dials afresh.
func (d *Dialer) Forget(hostID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[hostID]; ok {
		c.c.Close()
		delete(d.clients, hostID)
	}
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
