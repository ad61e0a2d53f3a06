// Package monitor keeps the engine's view of running VMs true: it polls
// every up host for the VMs it runs and asks each guest agent which disks
// the guest sees, and reports both to the engine (status and each
// attachment's logical_name).
package monitor

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// Clients gives the agent client of a host.
type Clients interface {
	Client(ctx context.Context, hostID string) (*agentrpc.Client, error)
}

// Monitor polls hosts.
type Monitor struct {
	Store    store.Store
	Engine   *engine.Engine
	Hosts    Clients
	Log      *slog.Logger
	Interval time.Duration
	// PingTimeout bounds one heartbeat (default 3 s).
	PingTimeout time.Duration

	// seenMissing holds VMs a host did not list in the last poll. Only a VM
	// missing twice in a row is reported down: a list taken just before a
	// VM started must not stop it.
	seenMissing map[string]bool
	// diskMisses counts, per VM and disk, the polls in a row in which a
	// disk the engine has plugged was missing from the live domain.
	diskMisses map[[2]string]int
	// diskExtras counts, per VM and disk, the polls in a row in which the
	// live domain held a disk the engine has unplugged.
	diskExtras map[[2]string]int

	kick     chan struct{}
	mu       sync.Mutex
	watching map[string]bool // hosts whose event stream is followed
	guests   guestPolls      // when each VM's guest agent is asked next
	reads    readBudget      // when each VM's live devices may be read next
	misses   map[string]int  // heartbeats missed in a row, per host
}

// goneAfter is how many polls in a row a plugged disk must be missing from
// the live domain before it counts as unplugged behind govirt's back: a
// hot-plug in flight is missing for a moment.
const goneAfter = 3

// Run polls until ctx ends: every Interval, and at once when a host's
// agent reports a libvirt event (a VM stopped, a device went away).
func (m *Monitor) Run(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 2 * time.Second
	}
	m.kick = make(chan struct{}, 1)
	m.watching = map[string]bool{}
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		m.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// watch follows a host's event stream until it breaks; the next poll
// subscribes again.
func (m *Monitor) watch(ctx context.Context, hostID string, c *agentrpc.Client) {
	m.mu.Lock()
	if m.watching == nil || m.watching[hostID] {
		m.mu.Unlock()
		return
	}
	m.watching[hostID] = true
	m.mu.Unlock()
	evs, err := c.Events(ctx)
	if err != nil {
		m.mu.Lock()
		delete(m.watching, hostID)
		m.mu.Unlock()
		return
	}
	go func() {
		defer func() {
			m.mu.Lock()
			delete(m.watching, hostID)
			m.mu.Unlock()
		}()
		for range evs {
			select {
			case m.kick <- struct{}{}:
			default:
			}
		}
	}()
}

// Poll runs one round over every host the engine manages: a heartbeat to
// each, then, for the hosts that answer, their VMs and devices.
func (m *Monitor) Poll(ctx context.Context) {
	var hosts []model.Host
	if err := m.Store.View(ctx, func(tx store.Tx) error {
		var err error
		hosts, err = tx.ListHosts(ctx, store.ListOptions{})
		return err
	}); err != nil {
		m.Log.Warn("monitor: list hosts", "err", err)
		return
	}
	// Heartbeats go out together, so one host that does not answer (a
	// ping timeout) does not delay the others' status.
	answered := make([]*agentrpc.Client, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		if !heartbeatable(h.Status) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := m.heartbeat(ctx, h); err == nil {
				answered[i] = c
			}
		}()
	}
	wg.Wait()
	for i, h := range hosts {
		if answered[i] != nil {
			m.pollHost(ctx, h, answered[i])
		}
	}
}

// heartbeat pings a host's agent and moves the host's status as the answer
// (or its absence) says.
func (m *Monitor) heartbeat(ctx context.Context, h model.Host) (*agentrpc.Client, error) {
	pctx, cancel := context.WithTimeout(ctx, m.pingTimeout())
	defer cancel()
	c, err := m.Hosts.Client(pctx, h.ID)
	if err == nil {
		_, err = c.Ping(pctx)
	}
	m.mu.Lock()
	if m.misses == nil {
		m.misses = map[string]int{}
	}
	if err == nil {
		delete(m.misses, h.ID)
	} else {
		m.misses[h.ID]++
	}
	misses := m.misses[h.ID]
	m.mu.Unlock()
	next := NextHostStatus(h.Status, err == nil, misses)
	if next != h.Status {
		m.Log.Info("monitor: host status", "host", h.Name, "from", h.Status, "to", next, "err", err)
		if serr := m.Engine.SetHostStatus(ctx, h.ID, next); serr != nil {
			m.Log.Warn("monitor: set host status", "host", h.Name, "err", serr)
		}
		if next == model.HostNonResponsive {
			if serr := m.Engine.HostNotResponding(ctx, h.ID); serr != nil {
				m.Log.Warn("monitor: host not responding", "host", h.Name, "err", serr)
			}
		}
	}
	return c, err
}

func (m *Monitor) pingTimeout() time.Duration {
	if m.PingTimeout > 0 {
		return m.PingTimeout
	}
	return 3 * time.Second
}

// heartbeatable: hosts in maintenance, being installed or down are not
// expected to answer.
func heartbeatable(s model.HostStatus) bool {
	switch s {
	case model.HostUp, model.HostConnecting, model.HostNonResponsive:
		return true
	}
	return false
}

// NonResponsiveAfter is how many heartbeats in a row a host may miss before
// it is non_responsive (and its VMs unknown); after the first it is
// connecting. With 2 s polls a host is declared lost after about 6 s.
const NonResponsiveAfter = 3

// NextHostStatus is the heartbeat's state machine: an answer makes a host
// up; a missed beat makes an up host connecting, and a host that missed
// NonResponsiveAfter beats in a row non_responsive.
func NextHostStatus(cur model.HostStatus, answered bool, misses int) model.HostStatus {
	switch {
	case answered:
		return model.HostUp
	case misses >= NonResponsiveAfter:
		return model.HostNonResponsive
	case cur == model.HostUp:
		return model.HostConnecting
	}
	return cur
}

func (m *Monitor) pollHost(ctx context.Context, h model.Host, c *agentrpc.Client) {
	m.watch(ctx, h.ID, c)
	vms, err := c.ListVMs(ctx)
	if err != nil {
		m.Log.Warn("monitor: list vms", "host", h.Name, "err", err)
		return
	}
	running := map[string]bool{}
	for _, vm := range vms {
		running[vm.ID] = true
	}
	grace := m.graceMissing(ctx, h.ID, running)
	if err := m.Engine.ReportRunning(ctx, h.ID, running, grace); err != nil {
		m.Log.Warn("monitor: report running vms", "host", h.Name, "err", err)
	}
	for id := range running {
		start := time.Now()
		if !m.reads.due(id, start) {
			continue
		}
		live, nlive, ok := m.reconcileDevices(ctx, c, id)
		m.reads.spent(h.ID, id, start, time.Since(start))
		m.Log.Debug("monitor: live devices read", "vm", id, "ok", ok, "took", time.Since(start).Round(time.Millisecond))
		if !ok || !m.guests.due(h.ID, id, live, nlive, time.Now()) {
			continue
		}
		asked := time.Now()
		disks, err := c.GuestDisks(ctx, id)
		took := time.Since(asked)
		m.Log.Debug("monitor: guest disks asked", "vm", id, "disks", len(disks), "err", err, "took", took.Round(time.Millisecond))
		if err != nil {
			// No guest agent (yet), or it did not answer in time: ask
			// again after the pause a question of this cost earns.
			m.guests.failed(h.ID, id, nlive, asked, took)
			continue
		}
		gd := make([]engine.GuestDisk, len(disks))
		for i, d := range disks {
			gd[i] = engine.GuestDisk{Name: d.Name, Serial: d.Serial}
		}
		unnamed, err := m.Engine.ReportGuestDisks(ctx, id, gd)
		if err != nil {
			m.Log.Warn("monitor: report guest disks", "vm", id, "err", err)
			m.guests.failed(h.ID, id, nlive, asked, took)
			continue
		}
		m.guests.answered(h.ID, id, live, nlive, unnamed, asked, took)
	}
	m.guests.forget(h.ID, running)
	m.reads.forget(h.ID, running)
}

// graceMissing returns the engine's VMs on the host that are missing from
// it for the first time, and remembers those; a VM missing twice is not in
// grace any more.
func (m *Monitor) graceMissing(ctx context.Context, hostID string, running map[string]bool) map[string]bool {
	if m.seenMissing == nil {
		m.seenMissing = map[string]bool{}
	}
	out := map[string]bool{}
	for id := range running {
		delete(m.seenMissing, id)
	}
	var vms []model.VM
	_ = m.Store.View(ctx, func(tx store.Tx) error {
		var err error
		vms, err = tx.ListVMs(ctx, store.ListOptions{})
		return err
	})
	for _, vm := range vms {
		if vm.HostID != hostID || running[vm.ID] {
			continue
		}
		if !m.seenMissing[vm.ID] {
			m.seenMissing[vm.ID] = true
			out[vm.ID] = true
		} else {
			delete(m.seenMissing, vm.ID)
		}
	}
	return out
}

// reconcileDevices compares a running VM's live disks with the engine's
// plugged device rows and reports differences that persist. It returns
// the live disks' signature and how many there are.
func (m *Monitor) reconcileDevices(ctx context.Context, c *agentrpc.Client, vmID string) (liveDisks string, n int, ok bool) {
	live, err := c.LiveVM(ctx, vmID)
	if err != nil {
		return "", 0, false
	}
	var devs []model.VmDevice
	if err := m.Store.View(ctx, func(tx store.Tx) error {
		var err error
		devs, err = tx.ListDevicesOfVM(ctx, vmID)
		return err
	}); err != nil {
		return "", 0, false
	}
	present := map[string]bool{}
	var report []engine.LiveDisk
	for _, d := range live.Devices {
		if id, ok := strings.CutPrefix(d.Alias, "ua-"); ok && d.Kind == "disk" {
			present[id] = true
			report = append(report, engine.LiveDisk{ID: id, Address: d.Address, TargetDev: d.TargetDev})
		}
	}
	if m.diskMisses == nil {
		m.diskMisses = map[[2]string]int{}
	}
	if m.diskExtras == nil {
		m.diskExtras = map[[2]string]int{}
	}
	var gone, appeared []string
	for _, d := range devs {
		key := [2]string{vmID, d.ID}
		if d.Type != model.DeviceTypeDisk || d.ID == engine.CDROMID || d.Pending != model.PendingNone {
			delete(m.diskMisses, key)
			delete(m.diskExtras, key)
			continue
		}
		if d.Plugged && !present[d.ID] {
			if m.diskMisses[key]++; m.diskMisses[key] >= goneAfter {
				gone = append(gone, d.ID)
				delete(m.diskMisses, key)
			}
		} else {
			delete(m.diskMisses, key)
		}
		if !d.Plugged && present[d.ID] {
			if m.diskExtras[key]++; m.diskExtras[key] >= goneAfter {
				appeared = append(appeared, d.ID)
				delete(m.diskExtras, key)
			}
		} else {
			delete(m.diskExtras, key)
		}
	}
	if err := m.Engine.ReportLiveDisks(ctx, vmID, engine.LiveReport{Live: report, Gone: gone, Appeared: appeared, Busy: live.Busy}); err != nil {
		m.Log.Warn("monitor: report live disks", "vm", vmID, "err", err)
	}
	return liveSignature(report), len(report), true
}
