package agent

import (
	"context"
	"time"
)

// Hypervisor is everything the agent needs from libvirt. It is the one
// boundary to the hypervisor: libvirtconn implements it over libvirt's RPC
// protocol, and nothing else in the agent talks to libvirt.
type Hypervisor interface {
	// CreateDomain starts a transient domain from XML; paused creates it
	// with its CPUs stopped (VIR_DOMAIN_START_PAUSED) until Resume.
	CreateDomain(ctx context.Context, xml string, paused bool) error
	// Resume lets a paused domain's CPUs run.
	Resume(ctx context.Context, uuid string) error
	// DomainXML returns the live XML of a running domain (ErrNotFound if none).
	DomainXML(ctx context.Context, uuid string) (string, error)
	// DomainOwner returns the host id in govirt's metadata of a running
	// domain ("" when it has none, ErrNotFound when no such domain runs),
	// without reading the domain's XML.
	DomainOwner(ctx context.Context, uuid string) (string, error)
	// Domains lists the running domains with their owner from govirt's metadata.
	Domains(ctx context.Context) ([]DomainInfo, error)
	// Shutdown asks the guest to power off (guest agent or ACPI).
	Shutdown(ctx context.Context, uuid string, mode ShutdownMode) error
	// Destroy powers the domain off at once.
	Destroy(ctx context.Context, uuid string) error
	// AttachDevice hot-plugs device XML into the live domain.
	AttachDevice(ctx context.Context, uuid, xml string) error
	// UpdateDevice changes a live device, such as a CD-ROM's media.
	UpdateDevice(ctx context.Context, uuid, xml string) error
	// DetachDeviceAlias asks for a live device to be removed; removal is
	// complete only when a DeviceRemoved event arrives.
	DetachDeviceAlias(ctx context.Context, uuid, alias string) error
	// AgentCommand sends one JSON command to the guest agent.
	AgentCommand(ctx context.Context, uuid, cmd string, timeout time.Duration) (string, error)
	// Subscribe streams domain events until ctx ends. A subscriber that falls
	// behind loses events rather than blocking others.
	Subscribe(ctx context.Context) <-chan Event
	// Migrate live-migrates a running domain, peer to peer: this libvirtd
	// connects to the one at destURI and the domain runs there as destXML
	// describes. It returns once the domain runs on the destination.
	// unsafe skips libvirt's check that the disks are on shared storage.
	Migrate(ctx context.Context, uuid, destURI, destXML string, unsafe bool) error
	// Versions reports libvirt's and the hypervisor's versions.
	Versions(ctx context.Context) (libvirtVersion, hvVersion string, err error)
}

// DomainInfo is a running domain and the agent that owns it.
type DomainInfo struct {
	UUID   string
	Name   string
	State  State
	HostID string // from govirt's metadata; empty for domains govirt did not start
}

// ShutdownMode selects how a guest is asked to power off.
type ShutdownMode int

// Shutdown modes.
const (
	ShutdownGuestAgent ShutdownMode = iota + 1
	ShutdownACPI
)
