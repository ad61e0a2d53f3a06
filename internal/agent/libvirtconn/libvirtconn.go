// Package libvirtconn implements agent.Hypervisor over libvirt's RPC protocol
// with the pure-Go go-libvirt client. It owns the connection, translates
// libvirt errors into the agent's sentinel errors and fans libvirt's domain
// events out to subscribers.
package libvirtconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agent/domxml"
)

// DefaultSocket is libvirtd's read-write socket on Debian.
const DefaultSocket = "/var/run/libvirt/libvirt-sock"

// Conn is one connection to libvirtd.
type Conn struct {
	l   *libvirt.Libvirt
	log *slog.Logger
	// statusDir is where libvirtd keeps its running domains' status files
	// (statusfile.go).
	statusDir string

	mu     sync.Mutex
	subs   map[int]chan agent.Event
	nextID int
	cancel context.CancelFunc
}

// Dial connects to libvirtd's qemu:///system driver on socketPath and starts
// the event pump.
func Dial(ctx context.Context, socketPath string, log *slog.Logger) (*Conn, error) {
	return DialURI(ctx, socketPath, "", log)
}

// DialURI is Dial for the driver uri names (qemu:///system when empty;
// qemu:///session for an unprivileged user's session daemon).
func DialURI(ctx context.Context, socketPath, uri string, log *slog.Logger) (*Conn, error) {
	if socketPath == "" {
		socketPath = DefaultSocket
	}
	if uri == "" {
		uri = string(libvirt.QEMUSystem)
	}
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socketPath), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		return nil, fmt.Errorf("connect to libvirtd at %s (is libvirtd running? scripts/host-setup.sh starts it): %w", socketPath, err)
	}
	c := &Conn{l: l, log: log, subs: map[int]chan agent.Event{}, statusDir: statusDirFor(uri)}
	pumpCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := c.startPump(pumpCtx); err != nil {
		cancel()
		_ = l.Disconnect()
		return nil, err
	}
	return c, nil
}

// Close stops the event pump and disconnects.
func (c *Conn) Close() error {
	c.cancel()
	return c.l.Disconnect()
}

// Disconnected is closed when the connection to libvirtd is lost.
func (c *Conn) Disconnected() <-chan struct{} { return c.l.Disconnected() }

func (c *Conn) lookup(id string) (libvirt.Domain, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return libvirt.Domain{}, fmt.Errorf("%w: bad uuid %q", agent.ErrNotFound, id)
	}
	dom, err := c.l.DomainLookupByUUID(libvirt.UUID(u))
	if err != nil {
		return libvirt.Domain{}, mapErr(err)
	}
	return dom, nil
}

// CreateDomain implements agent.Hypervisor.
func (c *Conn) CreateDomain(_ context.Context, xml string, paused bool) error {
	var flags libvirt.DomainCreateFlags
	if paused {
		flags = libvirt.DomainStartPaused
	}
	_, err := c.l.DomainCreateXML(xml, flags)
	return mapErr(err)
}

// DomainXML implements agent.Hypervisor.
func (c *Conn) DomainXML(_ context.Context, id string) (string, error) {
	dom, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	x, err := c.l.DomainGetXMLDesc(dom, 0)
	if err != nil && tooLargeForRPC(err) {
		return c.statusFileXML(dom.Name)
	}
	return x, mapErr(err)
}

// Domains implements agent.Hypervisor.
func (c *Conn) Domains(_ context.Context) ([]agent.DomainInfo, error) {
	doms, _, err := c.l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]agent.DomainInfo, 0, len(doms))
	for _, d := range doms {
		info := agent.DomainInfo{UUID: uuid.UUID(d.UUID).String(), Name: d.Name}
		st, _, err := c.l.DomainGetState(d, 0)
		if err != nil {
			if errors.Is(mapErr(err), agent.ErrNotFound) {
				continue // gone meanwhile
			}
			return nil, mapErr(err)
		}
		info.State = stateOf(libvirt.DomainState(st))
		info.HostID = c.owner(d)
		out = append(out, info)
	}
	return out, nil
}

// DomainOwner implements agent.Hypervisor.
func (c *Conn) DomainOwner(_ context.Context, id string) (string, error) {
	dom, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	active, err := c.l.DomainIsActive(dom)
	if err != nil {
		return "", mapErr(err)
	}
	if active == 0 {
		return "", fmt.Errorf("%w: domain %s is not running", agent.ErrNotFound, id)
	}
	return c.owner(dom), nil
}

// owner reads the host id from govirt's metadata element of a domain; ""
// when the domain has none (it is not govirt's).
func (c *Conn) owner(d libvirt.Domain) string {
	md, err := c.l.DomainGetMetadata(d, int32(libvirt.DomainMetadataElement), libvirt.OptString{domxml.MetadataNS}, libvirt.DomainAffectLive)
	if err != nil {
		return ""
	}
	host, _ := domxml.HostIDFromMetadata(md)
	return host
}

// Shutdown implements agent.Hypervisor.
func (c *Conn) Shutdown(_ context.Context, id string, mode agent.ShutdownMode) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	flag := libvirt.DomainShutdownAcpiPowerBtn
	if mode == agent.ShutdownGuestAgent {
		flag = libvirt.DomainShutdownGuestAgent
	}
	return mapErr(c.l.DomainShutdownFlags(dom, flag))
}

// Destroy implements agent.Hypervisor.
func (c *Conn) Destroy(_ context.Context, id string) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	return mapErr(c.l.DomainDestroy(dom))
}

// Resume implements agent.Hypervisor.
func (c *Conn) Resume(_ context.Context, id string) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	return mapErr(c.l.DomainResume(dom))
}

// AttachDevice implements agent.Hypervisor.
func (c *Conn) AttachDevice(_ context.Context, id, xml string) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	return mapErr(c.l.DomainAttachDeviceFlags(dom, xml, uint32(libvirt.DomainAffectLive)))
}

// UpdateDevice implements agent.Hypervisor.
func (c *Conn) UpdateDevice(_ context.Context, id, xml string) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	return mapErr(c.l.DomainUpdateDeviceFlags(dom, xml, libvirt.DomainDeviceModifyLive))
}

// DetachDeviceAlias implements agent.Hypervisor.
func (c *Conn) DetachDeviceAlias(_ context.Context, id, alias string) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	return mapErr(c.l.DomainDetachDeviceAlias(dom, alias, uint32(libvirt.DomainAffectLive)))
}

// AgentCommand implements agent.Hypervisor.
func (c *Conn) AgentCommand(_ context.Context, id, cmd string, timeout time.Duration) (string, error) {
	dom, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	secs := int32(timeout / time.Second)
	if secs <= 0 {
		secs = 5
	}
	res, err := c.l.QEMUDomainAgentCommand(dom, cmd, secs, 0)
	if err != nil {
		return "", mapErr(err)
	}
	if len(res) == 0 {
		return "", nil
	}
	return res[0], nil
}

// Versions implements agent.Hypervisor.
func (c *Conn) Versions(_ context.Context) (string, string, error) {
	lv, err := c.l.ConnectGetLibVersion()
	if err != nil {
		return "", "", mapErr(err)
	}
	hv, err := c.l.ConnectGetVersion()
	if err != nil {
		return "", "", mapErr(err)
	}
	return version(lv), version(hv), nil
}

func version(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

func stateOf(s libvirt.DomainState) agent.State {
	switch s {
	case libvirt.DomainRunning:
		return agent.StateRunning
	case libvirt.DomainPaused, libvirt.DomainPmsuspended, libvirt.DomainBlocked:
		return agent.StatePaused
	case libvirt.DomainShutdown:
		return agent.StateShutdown
	case libvirt.DomainShutoff:
		return agent.StateShutoff
	case libvirt.DomainCrashed:
		return agent.StateCrashed
	}
	return agent.StateUnknown
}

// mapErr turns libvirt errors the agent acts on into its sentinel errors,
// keeping libvirt's message.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var le libvirt.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("libvirt: %w", err)
	}
	msg := le.Message
	switch {
	case libvirt.ErrorNumber(le.Code) == libvirt.ErrNoDomain:
		return fmt.Errorf("%w: %s", agent.ErrNotFound, msg)
	case libvirt.ErrorNumber(le.Code) == libvirt.ErrAgentUnresponsive,
		strings.Contains(msg, "QEMU guest agent is not connected"),
		strings.Contains(msg, "Guest agent is not responding"):
		return fmt.Errorf("%w: %s", agent.ErrGuestAgent, msg)
	case isArgListTooLong(msg):
		return fmt.Errorf("%w: %s", agent.ErrArgListTooLong, msg)
	case isPCIExhausted(msg):
		return fmt.Errorf("%w: %s", agent.ErrPCISlotsExhausted, msg)
	case strings.Contains(msg, "already exists with uuid") || strings.Contains(msg, "is already active") ||
		strings.Contains(msg, "already defined with uuid"):
		return fmt.Errorf("%w: %s", agent.ErrAlreadyRunning, msg)
	case strings.Contains(msg, "no device found with alias") || strings.Contains(msg, "device not found"):
		return fmt.Errorf("%w: %s", agent.ErrDeviceNotFound, msg)
	}
	return fmt.Errorf("libvirt: %w", err)
}

// isArgListTooLong recognises the kernel's E2BIG for QEMU's execve, which
// libvirt passes on as strerror's text only ("Argument list too long"; Go
// spells it in lower case).
func isArgListTooLong(msg string) bool {
	return strings.Contains(strings.ToLower(msg), syscall.E2BIG.Error())
}

// isPCIExhausted recognises libvirt's and QEMU's words for a full PCI bus.
func isPCIExhausted(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no more available pci slots") ||
		strings.Contains(m, "no slot/function available") ||
		strings.Contains(m, "pci: slot") && strings.Contains(m, "in use")
}

// Migrate implements agent.Hypervisor: a live, peer-to-peer migration of a
// transient domain (nothing is defined or undefined on either side).
func (c *Conn) Migrate(_ context.Context, id, destURI, destXML string, unsafe bool) error {
	dom, err := c.lookup(id)
	if err != nil {
		return err
	}
	params := []libvirt.TypedParam{{Field: libvirt.MigrateParamDestXML, Value: *libvirt.NewTypedParamValueString(destXML)}}
	flags := libvirt.MigrateLive | libvirt.MigratePeer2peer
	if unsafe {
		flags |= libvirt.MigrateUnsafe
	}
	_, err = c.l.DomainMigratePerform3Params(dom, libvirt.OptString{destURI}, params, nil, flags)
	return mapErr(err)
}
