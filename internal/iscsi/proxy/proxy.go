package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

// Config says where a proxy listens, where the target is and what it
// enforces.
type Config struct {
	// Target is the real iSCSI portal, host:port.
	Target string
	// Listen is the proxy's address; empty means 127.0.0.1 on a free port.
	Listen string
	// Policy is the initial policy; nil means filtered.
	Policy *scsipolicy.Policy
	// Logger receives one warning per refused command (at most one per
	// second per connection, with a count of those not logged).
	Logger *slog.Logger
	// DialTimeout bounds the connection to the target (default 10 s).
	DialTimeout time.Duration
}

// Stats counts what a proxy saw since it started.
type Stats = scsipolicy.Stats

// Proxy forwards iSCSI connections to one target under a SCSI command
// policy that can change while they run.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	policy atomic.Pointer[scsipolicy.Policy]

	counters scsipolicy.Counters

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// Start listens and serves until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.Target == "" {
		return nil, errors.New("iscsi proxy: no target address")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Policy == nil {
		cfg.Policy = scsipolicy.Filtered()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("iscsi proxy: listen: %w", err)
	}
	p := &Proxy{cfg: cfg, ln: ln, conns: map[net.Conn]struct{}{},
		log: log.With("proxy", ln.Addr().String(), "target", cfg.Target)}
	p.policy.Store(cfg.Policy)
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go p.accept()
	go func() {
		<-p.ctx.Done()
		_ = p.Close()
	}()
	return p, nil
}

// Addr is the address initiators connect to.
func (p *Proxy) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

// Target is the portal the proxy forwards to.
func (p *Proxy) Target() string { return p.cfg.Target }

// SetPolicy swaps the policy; it applies from the next command on every
// connection, without disturbing the session.
func (p *Proxy) SetPolicy(pol *scsipolicy.Policy) {
	if pol != nil {
		p.policy.Store(pol)
	}
}

// Policy is the policy in force.
func (p *Proxy) Policy() *scsipolicy.Policy { return p.policy.Load() }

// Stats reports the counters, for the agent to report upward.
func (p *Proxy) Stats() Stats {
	return p.counters.Stats()
}

// Close stops listening, closes every connection and waits for them.
func (p *Proxy) Close() error {
	p.cancel()
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("iscsi proxy accept", "err", err)
			}
			return
		}
		if !p.track(c) {
			return
		}
		p.counters.Connection()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// track registers a connection to be closed by Close; false when closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// serve proxies one initiator connection until either end closes or breaks
// the protocol.
func (p *Proxy) serve(client net.Conn) {
	defer p.untrack(client)
	log := p.log.With("initiator", client.RemoteAddr().String())
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	target, err := d.DialContext(p.ctx, "tcp", p.cfg.Target)
	if err != nil {
		log.Warn("iscsi proxy: cannot reach the target", "err", err)
		return
	}
	if !p.track(target) {
		return
	}
	defer p.untrack(target)
	if err := p.relay(client, target); err != nil {
		log.Warn("iscsi proxy: connection closed", "err", err)
	}
}

// relay runs the two directions of one proxied connection until one ends,
// then closes both. It returns the first error that is not an orderly close.
func (p *Proxy) relay(client, target net.Conn) error {
	log := p.log.With("initiator", client.RemoteAddr().String())
	lim := scsipolicy.NewRefusalLog(log)
	f := newFilter(p.policy.Load, func(dec scsipolicy.Decision, itt uint32, lun uint64) {
		if p.counters.Command(dec) {
			lim.Refused(dec, lun, p.policy.Load().Name(), "itt", fmt.Sprintf("%#x", itt))
		}
	})
	f.onLogin = func(params pdu.Params) {
		log.Info("iSCSI login complete", "header_digest", params.HeaderDigest, "data_digest", params.DataDigest,
			"immediate_data", params.ImmediateData, "initial_r2t", params.InitialR2T)
	}
	loginAnswered := make(chan struct{}, 1)
	done := make(chan struct{})
	errc := make(chan error, 2)
	go func() { errc <- p.initiatorToTarget(f, client, target, loginAnswered, done) }()
	go func() { errc <- p.targetToInitiator(f, target, client, loginAnswered) }()
	err := <-errc
	close(done)
	_ = client.Close()
	_ = target.Close()
	<-errc
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return nil
}

func (p *Proxy) initiatorToTarget(f *filter, from io.Reader, to io.Writer, loginAnswered <-chan struct{}, done <-chan struct{}) error {
	r := pdu.NewReader(from)
	r.VerifyData = false // the target checks data digests; refused data is dropped
	var fr pdu.Frame
	data := func() ([]byte, error) { err := r.Data(&fr); return fr.PDU.Data, err }
	for {
		if err := r.Header(&fr, f.digests()); err != nil {
			return fmt.Errorf("from initiator: %w", err)
		}
		act, out, waitLogin, err := f.fromInitiator(&fr.PDU, data)
		if err != nil {
			return fmt.Errorf("from initiator: %w", err)
		}
		if err := pass(r, &fr, act, out, to); err != nil {
			return fmt.Errorf("initiator to target: %w", err)
		}
		if waitLogin {
			select {
			case <-loginAnswered:
			case <-done:
				return nil
			}
		}
	}
}

func (p *Proxy) targetToInitiator(f *filter, from io.Reader, to io.Writer, loginAnswered chan<- struct{}) error {
	r := pdu.NewReader(from)
	r.VerifyData = false
	var fr pdu.Frame
	var buf []byte
	data := func() ([]byte, error) { err := r.Data(&fr); return fr.PDU.Data, err }
	for {
		if err := r.Header(&fr, f.digests()); err != nil {
			return fmt.Errorf("from target: %w", err)
		}
		act, out, answered, err := f.fromTarget(&fr.PDU, data, buf)
		if err != nil {
			return fmt.Errorf("from target: %w", err)
		}
		if len(out) > 0 {
			buf = out
		}
		if err := pass(r, &fr, act, out, to); err != nil {
			return fmt.Errorf("target to initiator: %w", err)
		}
		if answered {
			select {
			case loginAnswered <- struct{}{}:
			default:
			}
		}
	}
}

// pass carries out a filter's action on the PDU whose header r just read.
func pass(r *pdu.Reader, fr *pdu.Frame, act action, out []byte, to io.Writer) error {
	if act == forward {
		return r.Forward(fr, to)
	}
	if err := r.Skip(); err != nil {
		return err
	}
	if len(out) > 0 {
		_, err := to.Write(out)
		return err
	}
	return nil
}
