// Package agentserver runs a host agent: it connects to libvirtd, builds
// the agent and serves it over gRPC. `govirt agent` runs one per host and
// `govirt engine --local-host` runs one in-process for this machine.
package agentserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agent/libvirtconn"
	"github.com/govirt/govirt/internal/agentrpc"
)

// Config is what an agent server needs.
type Config struct {
	Agent         agent.Config
	Listen        string // unix:PATH or HOST:PORT
	Creds         credentials.TransportCredentials
	LibvirtSocket string
	// LibvirtURI is the driver URI opened on LibvirtSocket (empty:
	// qemu:///system).
	LibvirtURI string
}

// Running is a serving agent.
type Running struct {
	srv   *grpc.Server
	conn  *libvirtconn.Conn
	agent *agent.Agent
	errc  chan error
}

// Start connects to libvirtd and serves the agent until Stop.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Running, error) {
	conn, err := libvirtconn.DialURI(ctx, cfg.LibvirtSocket, cfg.LibvirtURI, log)
	if err != nil {
		return nil, err
	}
	a, err := agent.New(cfg.Agent, conn, log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	lis, err := agentrpc.Listen(cfg.Listen)
	if err != nil {
		a.Close()
		conn.Close()
		return nil, fmt.Errorf("agent listen %s: %w", cfg.Listen, err)
	}
	r := &Running{srv: grpc.NewServer(agentrpc.ServerOptions(cfg.Creds)...), conn: conn, agent: a, errc: make(chan error, 2)}
	agentrpc.NewServer(a, log).Register(r.srv)
	go func() { r.errc <- r.srv.Serve(lis) }()
	go func() {
		<-conn.Disconnected()
		r.errc <- errors.New("lost the connection to libvirtd")
	}()
	log.Info("agent serving", "listen", cfg.Listen, "host_id", cfg.Agent.HostID, "virt_type", cfg.Agent.VirtType)
	return r, nil
}

// Done reports why the agent stopped serving.
func (r *Running) Done() <-chan error { return r.errc }

// Stop ends serving gracefully and disconnects from libvirtd. Running
// guests are not touched; their LUN proxies stop and the next agent on this
// state directory restarts them where QEMU reconnects.
func (r *Running) Stop() {
	r.srv.GracefulStop()
	r.agent.Close()
	r.conn.Close()
}
