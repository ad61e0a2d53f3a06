//go:build bench

package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/agent/libvirtconn"
	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/client"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// guestEnv is one engine on SQLite with a local host for the guest figures.
type guestEnv struct {
	s   *suite
	e   *e2eutil.EngineProc
	c   *client.Client
	img testguest.Image
	dir string // where raw domains' consoles and XML go
	// ioVMs are the data-path VMs by configuration, started once.
	ioVMs map[string]*ioVM
	// rawCold, when positive, makes the boot rows' baseline the raw staged
	// path with that many disks in the domain, as the agent stages its
	// start, instead of virsh create of them all.
	rawCold int
}

func (s *suite) guests() {
	g := &guestEnv{s: s, ioVMs: map[string]*ioVM{}}
	if s.pending("guest/") || s.pending("iscsi/proxy-guest") {
		if err := g.start(); err != nil {
			s.t.Fatal(err)
		}
	}
	s.run(benchreport.Result{ID: "guest/2-hotplug-sequential", Group: "Hot-plug",
		Name: fmt.Sprintf("%d sequential hot-plugs into a running guest, each until the guest sees it", s.tier.hotplugs),
		Unit: "ms", Better: benchreport.Lower, BaselineName: "virsh attach-device", TargetRatio: 1.1},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			return g.hotplug(ctx, t, r, s.tier.hotplugs, 1)
		})
	if s.tier.concurrent > 0 {
		s.run(benchreport.Result{ID: "guest/3-hotplug-concurrent", Group: "Hot-plug",
			Name: fmt.Sprintf("%d concurrent hot-plugs, until the guest sees all", s.tier.concurrent),
			Note: fmt.Sprintf("%d batches; each sample is one batch", s.tier.runs),
			Unit: "s", Better: benchreport.Lower, BaselineName: "virsh attach-device", TargetRatio: 1.1},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				return g.hotplug(ctx, t, r, s.tier.runs*s.tier.concurrent, s.tier.concurrent)
			})
	}
	s.dataPath(g)
	s.agentPoll(g)
	s.iscsiGuest(g)
	for _, n := range s.tier.bootDisks {
		s.run(benchreport.Result{ID: fmt.Sprintf("guest/1-boot-%05d", n), Group: "Disks per guest",
			Name: fmt.Sprintf("boot with %d VirtIO-SCSI disks, guest sees all", n), Unit: "s", Better: benchreport.Lower,
			BaselineName: "virsh create", TargetRatio: 1.1},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				return g.boot(ctx, t, r, n)
			})
	}
	s.bigVMs(g)
}

// start runs the engine for the whole suite (in the suite's goroutine).
func (g *guestEnv) start() error {
	return g.startOn(g.s.t, e2eutil.EngineOptions{LogLevel: "info"})
}

// startOn runs g's engine for t (the suite, or one measurement that needs
// an engine of its own) and powers its guests off when t ends.
func (g *guestEnv) startOn(t *testing.T, opts e2eutil.EngineOptions) error {
	g.img = e2eutil.Guest(t)
	g.e = e2eutil.StartEngine(t, opts)
	g.dir = e2eutil.SharedDir(t)
	var err error
	// No time limit per request beyond the measurement's context: the
	// start of the 16,383-disk guest holds its request for the whole
	// staging (over an hour here; session 5's run was cut at 13,632 disks
	// by a 60-minute client timeout).
	g.c, err = client.New(g.e.URL, g.e.Token)
	// Guests outlive an engine that stops: power them off first (cleanups
	// run last-registered first, so before the engine's own).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		vms, err := g.c.ListVMs(ctx, "")
		if err != nil {
			t.Logf("stopping the guests: %v", err)
			return
		}
		for _, vm := range vms {
			if vm.Status != nil && *vm.Status != "down" {
				_, _ = g.c.StopVM(ctx, vm.ID)
			}
		}
	})
	return err
}

// newVM creates a guest VM with n image disks attached (active unless
// told), untimed, and returns it with the disk ids in attachment order.
// Thousands of disks are attached by attachWorkers clients at once, so the
// engine works while the clients wait for answers.
func (g *guestEnv) newVM(ctx context.Context, name string, n, inactive, ioThreads int) (ovirt.VM, []string, error) {
	mem := guestMemory(n)
	spec := ovirt.VM{Name: ovirt.Str(name), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}, Memory: ovirt.I(mem),
		OS:         &ovirt.OS{Type: ovirt.Str("debian"), Kernel: &g.img.Kernel, Initrd: &g.img.Initrd, Cmdline: &g.img.Cmdline},
		VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(true)}}
	if ioThreads > 0 {
		spec.IO = &ovirt.IO{Threads: ovirt.I(int64(ioThreads))}
	}
	vm, err := g.c.AddVM(ctx, spec)
	if err != nil {
		return vm, nil, err
	}
	ids := make([]string, n+inactive)
	workers := 1
	if n+inactive >= 2000 {
		workers = attachWorkers
	}
	var (
		done    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	next := make(chan int)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				a, err := g.c.Attach(wctx, vm.ID, ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(i < n), Bootable: ovirt.B(false),
					Disk: &ovirt.Disk{Name: ovirt.Str(fmt.Sprintf("%s-d%d", name, i)), Format: ovirt.Str("cow"), ProvisionedSize: ovirt.I(1 << 20),
						StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{Name: ovirt.Str("local")}}}}})
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("disk %d of %s: %w", i, name, err); cancel() })
					continue
				}
				ids[i] = a.ID
				if d := done.Add(1); d%2000 == 0 {
					g.s.t.Logf("%s: %d disks attached", name, d)
				}
			}
		}()
	}
	for i := range n + inactive {
		select {
		case next <- i:
		case <-wctx.Done():
		}
		if wctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return vm, nil, first
	}
	if err := ctx.Err(); err != nil {
		return vm, nil, err
	}
	return vm, ids, nil
}

// attachWorkers is how many clients attach a large VM's disks at once.
const attachWorkers = 4

// boot times govirt's start against virsh create of the same XML, runs
// times each, alternating.
func (g *guestEnv) boot(ctx context.Context, t *testing.T, r *benchreport.Result, n int) error {
	if g.e == nil {
		return fmt.Errorf("no engine")
	}
	vm, ids, err := g.newVM(ctx, fmt.Sprintf("boot%d-%d", n, time.Now().Unix()), n, 0, 0)
	if err != nil {
		return err
	}
	runs := g.s.tier.runs
	if n > 1000 {
		runs = 1 // minutes per boot under TCG
		r.Note = "one run each: a boot takes minutes under TCG"
	}
	var raw *libvirtxml.Domain
	for run := range runs {
		took, inv, err := g.startAndSee(ctx, vm.ID, ids)
		if err != nil {
			return fmt.Errorf("govirt run %d: %w", run, err)
		}
		if raw == nil {
			if raw, err = g.liveXML(ctx, vm.ID); err != nil {
				return err
			}
			if err := checkAddresses(raw, ids, inv); err != nil {
				return err
			}
		}
		if err := g.stop(ctx, vm.ID); err != nil {
			return err
		}
		r.Samples = append(r.Samples, took.Seconds())
		rd := g.rawDomain(raw, fmt.Sprintf("raw-boot%d-%d", n, run))
		if g.rawCold > 0 {
			took, err = g.rawStagedAndSee(ctx, rd, ids, g.rawCold)
		} else {
			took, _, err = g.virshCreateAndSee(ctx, rd, ids)
			if err != nil && strings.Contains(err.Error(), "Argument list too long") {
				r.BaselineName = "virsh create --paused + attach + resume"
				r.Note = strings.TrimPrefix(r.Note+"; ", "; ") + fmt.Sprintf("`virsh create` of all %d disks fails (QEMU: Argument list too long): "+
					"the baseline is the raw staged path, created paused with %d disks, the rest attached through libvirt's API, then resumed", n, rawColdDisks)
				took, err = g.rawStagedAndSee(ctx, rd, ids, rawColdDisks)
			}
		}
		if err != nil {
			return fmt.Errorf("virsh run %d: %w", run, err)
		}
		virsh(ctx, "destroy", rd.Name) //nolint:errcheck // best effort
		r.Baseline = append(r.Baseline, took.Seconds())
	}
	return nil
}

// startAndSee starts a VM through the API and waits until the guest sees
// every disk.
func (g *guestEnv) startAndSee(ctx context.Context, vmID string, ids []string) (time.Duration, testguest.Inventory, error) {
	start := time.Now()
	if _, err := g.c.StartVM(ctx, vmID); err != nil {
		return 0, testguest.Inventory{}, err
	}
	return g.see(ctx, "govirt", start, g.e.ConsolePath(vmID), ids)
}

// see waits until the guest on console sees every disk and logs when its
// boot passed each phase since start: the start call answered (the
// domain runs), GOVIRT-READY (modules loaded, qemu-ga starting), all seen.
func (g *guestEnv) see(ctx context.Context, who string, start time.Time, console string, ids []string) (time.Duration, testguest.Inventory, error) {
	created := time.Since(start)
	cpu := newCPUMeter(g.e.PID())
	if err := testguest.WaitReady(ctx, console); err != nil {
		return 0, testguest.Inventory{}, err
	}
	ready := time.Since(start)
	inv, err := testguest.WaitInventory(ctx, console, seesAll(ids))
	took := time.Since(start)
	if err == nil {
		g.s.t.Logf("boot %s, %d disks: running after %v, GOVIRT-READY after %v, sees all after %v; from running to all seen: %s", who, len(ids),
			created.Round(time.Millisecond), ready.Round(time.Millisecond), took.Round(time.Millisecond), cpu)
	}
	return took, inv, err
}

func (g *guestEnv) stop(ctx context.Context, vmID string) error {
	if _, err := g.c.StopVM(ctx, vmID); err != nil {
		return err
	}
	for {
		vm, err := g.c.GetVM(ctx, vmID)
		if err != nil {
			return err
		}
		if vm.Status != nil && *vm.Status == "down" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// virshCreateAndSee runs virsh create on a domain and waits until its
// guest sees every disk.
func (g *guestEnv) virshCreateAndSee(ctx context.Context, d *libvirtxml.Domain, ids []string) (time.Duration, testguest.Inventory, error) {
	xmlPath := filepath.Join(g.dir, d.Name+".xml")
	s, err := d.Marshal()
	if err != nil {
		return 0, testguest.Inventory{}, err
	}
	if err := os.WriteFile(xmlPath, []byte(s), 0o644); err != nil {
		return 0, testguest.Inventory{}, err
	}
	console := d.Devices.Serials[0].Source.File.Path
	_ = os.Remove(console)
	start := time.Now()
	if err := virsh(ctx, "create", xmlPath); err != nil {
		return 0, testguest.Inventory{}, err
	}
	return g.see(ctx, "virsh", start, console, ids)
}

// liveXML is the domain as govirt had libvirt run it, in the form virsh
// create takes.
func (g *guestEnv) liveXML(ctx context.Context, vmID string) (*libvirtxml.Domain, error) {
	cmd := exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "dumpxml", "--migratable", vmID)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && strings.Contains(stderr.String(), "Unable to encode message payload") {
		// Past about 7,800 disks libvirt's RPC will not carry the live XML
		// (4 MiB): the agent's libvirt connection reads it from libvirtd's
		// status file instead, and so does the bench.
		return agentLiveXML(ctx, vmID)
	}
	if err != nil {
		return nil, fmt.Errorf("virsh dumpxml %s: %w: %s", vmID, err, stderr.String())
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(string(out)); err != nil {
		return nil, err
	}
	return &d, nil
}

// agentLiveXML reads a running domain as the agent does (libvirtconn).
func agentLiveXML(ctx context.Context, vmID string) (*libvirtxml.Domain, error) {
	conn, err := libvirtconn.Dial(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	x, err := conn.DomainXML(ctx, vmID)
	if err != nil {
		return nil, fmt.Errorf("live XML of %s: %w", vmID, err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		return nil, err
	}
	return &d, nil
}

// rawDomain is a copy of d that govirt does not own: another name, no
// UUID, no govirt metadata, its own console and agent socket.
func (g *guestEnv) rawDomain(d *libvirtxml.Domain, name string) *libvirtxml.Domain {
	s, _ := d.Marshal() // d came from Unmarshal
	var c libvirtxml.Domain
	_ = c.Unmarshal(s)
	c.Name, c.UUID, c.Metadata = name, "", nil
	console := filepath.Join(g.dir, name+".log")
	for _, sr := range c.Devices.Serials {
		if sr.Source != nil && sr.Source.File != nil {
			sr.Source.File.Path = console
		}
	}
	for _, co := range c.Devices.Consoles {
		if co.Source != nil && co.Source.File != nil {
			co.Source.File.Path = console
		}
	}
	for _, ch := range c.Devices.Channels {
		if ch.Source != nil && ch.Source.UNIX != nil {
			ch.Source.UNIX.Path = ""
		}
	}
	return &c
}

// checkAddresses: the guest sees each disk at the drive address libvirt
// was given.
func checkAddresses(d *libvirtxml.Domain, ids []string, inv testguest.Inventory) error {
	bySerial := guestBySerial(inv)
	addrs := map[string]*libvirtxml.DomainAddressDrive{}
	for _, disk := range d.Devices.Disks {
		if disk.Alias != nil && disk.Address != nil && disk.Address.Drive != nil {
			addrs[strings.TrimPrefix(disk.Alias.Name, "ua-")] = disk.Address.Drive
		}
	}
	var bad []string
	// The guest numbers its SCSI hosts in its own probe order, so a
	// controller must map onto one guest host, and no two onto the same.
	hostOf, controllerOf := map[uint]int{}, map[int]uint{}
	for _, id := range ids {
		a, ok := addrs[id]
		g, seen := bySerial[serialOf(id)]
		switch {
		case !ok:
			bad = append(bad, id+": no drive address in the domain")
			continue
		case !seen:
			bad = append(bad, id+": not seen")
			continue
		case g.Target != int(*a.Target) || g.LUN != int(scsi.GuestLUN(uint16(*a.Unit))):
			bad = append(bad, fmt.Sprintf("%s: guest %s, libvirt %d:%d:%d", id, g.HCTL, *a.Controller, *a.Target, *a.Unit))
			continue
		}
		h, known := hostOf[*a.Controller]
		c, taken := controllerOf[g.Host]
		switch {
		case !known && !taken:
			hostOf[*a.Controller], controllerOf[g.Host] = g.Host, *a.Controller
		case known && h != g.Host, !known && taken:
			bad = append(bad, fmt.Sprintf("%s: guest %s, libvirt controller %d (seen before: controller %d as host %d, host %d as controller %d)",
				id, g.HCTL, *a.Controller, *a.Controller, h, g.Host, c))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d disks are not where libvirt put them: %s", len(bad), len(ids), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	return nil
}

// serialOf keys disks by the first 20 characters of their serial: the
// guest may see the whole disk id or (VPD page 0x80 on some devices) 20.
func serialOf(id string) string { return id[:min(len(id), 20)] }

func guestBySerial(inv testguest.Inventory) map[string]testguest.Disk {
	out := make(map[string]testguest.Disk, len(inv.Disks))
	for _, d := range inv.Disks {
		out[serialOf(d.Serial)] = d
	}
	return out
}

func seesAll(ids []string) func(testguest.Inventory) bool {
	return func(inv testguest.Inventory) bool {
		if len(inv.Disks) < len(ids) {
			return false
		}
		m := guestBySerial(inv)
		for _, id := range ids {
			if _, ok := m[serialOf(id)]; !ok {
				return false
			}
		}
		return true
	}
}

func virsh(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// timeBatches plugs ids, parallel at a time, and appends to samples the
// time from a batch's first request until the guest's console lists all
// of it (ms for single plugs, s for batches).
func timeBatches(ctx context.Context, console string, have, ids []string, parallel int, plug func(string) error, samples *[]float64) error {
	seen := append([]string{}, have...)
	for i := 0; i < len(ids); i += parallel {
		batch := ids[i:min(i+parallel, len(ids))]
		seen = append(seen, batch...)
		took, err := plugAndSee(ctx, console, seen, batch, plug)
		if err != nil {
			return err
		}
		*samples = append(*samples, batchUnit(took, parallel))
	}
	return nil
}

// plugAndSee plugs batch all at once and waits until the guest's console
// lists every disk of seen; it returns the time from the first request.
func plugAndSee(ctx context.Context, console string, seen, batch []string, plug func(string) error) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(batch))
	for j, id := range batch {
		wg.Add(1)
		go func() { defer wg.Done(); errs[j] = plug(id) }()
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("plug %s: %w", batch[j], err)
		}
	}
	if _, err := testguest.WaitInventory(ctx, console, seesAll(seen)); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// batchUnit is a sample in the unit of the hot-plug rows: ms for single
// plugs, s for batches.
func batchUnit(d time.Duration, parallel int) float64 {
	if parallel == 1 {
		return ms(d)
	}
	return d.Seconds()
}
