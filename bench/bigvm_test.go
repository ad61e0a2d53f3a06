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
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/agent/libvirtconn"
	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// guestMemory is what a test guest with n SCSI disks gets. The kernel
// needs memory per SCSI device (1,000 disks in 384 MiB ended in "System is
// deadlocked on memory"): 1 MiB each up to 4,096 disks, as the earlier
// runs used, and 512 KiB for each disk beyond, so that 16,383 disks
// (10.4 GiB) still fit beside the other developers' guests on this host.
func guestMemory(n int) int64 {
	const base = 384 << 20
	if n <= 4096 {
		return base + int64(n)<<20
	}
	return base + 4096<<20 + int64(n-4096)<<19
}

// rawColdDisks is how many disks the raw staged path creates a domain
// with: 2,048 of the bench's disks take about 1.5 MiB of QEMU's arguments,
// under the 2 MiB the kernel allows at libvirtd's 8 MiB stack.
const rawColdDisks = 2048

// stagedColdDisks is the local agent's --max-cold-disks for the staged
// boot row: low, so that a few dozen disks go through the staged path.
const stagedColdDisks = 8

// maxBootIOThreads is the I/O-thread count, and so the virtio-SCSI
// controller count, of the 16,383-disk guest: QEMU finds the device of
// every SCSI command by walking its controller's device list, so 16,383
// disks on one controller kept QEMU's main thread busy for the guest's
// whole 27-minute probe (ANALYSIS.md, session 7). Sixteen controllers of
// about 1,024 disks each is what docs/ADDRESSING.md tells admins to do.
const maxBootIOThreads = 16

// bigVMs are the staged-start rows: a small VM forced through the staged
// path (both tiers, the cost of staging against virsh create of the same
// XML), and in the full tier one guest with 16,383 disks.
func (s *suite) bigVMs(g *guestEnv) {
	if n := s.tier.stagedBoot; n > 0 {
		s.run(benchreport.Result{ID: fmt.Sprintf("guest/1-boot-staged-%05d", n), Group: "Disks per guest",
			Name: fmt.Sprintf("boot with %d VirtIO-SCSI disks in stages (%d in the domain, %d attached paused), guest sees all", n, stagedColdDisks, n-stagedColdDisks),
			Note: fmt.Sprintf("agent --max-cold-disks forces the staged start of large VMs onto a small one; the baseline stages the same "+
				"domain by hand: virsh create --paused with its first %d disks, the other %d attached through libvirt's API, virsh resume", stagedColdDisks, n-stagedColdDisks),
			Unit: "s", Better: benchreport.Lower, BaselineName: "virsh create --paused + attach + resume", TargetRatio: 1.1},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				sg := &guestEnv{s: s, ioVMs: map[string]*ioVM{}, rawCold: stagedColdDisks}
				if err := sg.startOn(t, e2eutil.EngineOptions{LogLevel: "info", MaxColdDisks: stagedColdDisks}); err != nil {
					return err
				}
				return sg.boot(ctx, t, r, n)
			})
	}
	if n := s.tier.maxDisks; n > 0 {
		s.run(benchreport.Result{ID: fmt.Sprintf("guest/6-boot-%05d", n), Group: "Disks per guest",
			Name: fmt.Sprintf("%d VirtIO-SCSI disks on %d controllers of one running guest (started through the API, the agent stages it), guest sees all", n, maxBootIOThreads),
			Unit: "s", Better: benchreport.Lower},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				if g.e == nil {
					return fmt.Errorf("no engine")
				}
				return g.maxBoot(ctx, t, r, n)
			})
	}
}

// maxBoot starts one VM with n disks through the API, once: the time to
// the guest seeing all is the sample, and the note says where it went.
func (g *guestEnv) maxBoot(ctx context.Context, t *testing.T, r *benchreport.Result, n int) error {
	began := time.Now()
	vm, ids, err := g.newVM(ctx, fmt.Sprintf("max%d-%d", n, time.Now().Unix()), n, 0, maxBootIOThreads)
	if err != nil {
		return err
	}
	attach := time.Since(began)
	t.Logf("%d disks attached through the API in %v", n, attach.Round(time.Second))
	start := time.Now()
	if _, err := g.c.StartVM(ctx, vm.ID); err != nil {
		return err
	}
	started := time.Since(start)
	t.Logf("start request answered after %v", started.Round(time.Second))
	inv, err := testguest.WaitInventory(ctx, g.e.ConsolePath(vm.ID), seesAll(ids))
	if err != nil {
		return err
	}
	took := time.Since(start)
	raw, err := g.liveXML(ctx, vm.ID)
	if err != nil {
		return err
	}
	if err := checkAddresses(raw, ids, inv); err != nil {
		return err
	}
	r.Samples = append(r.Samples, took.Seconds())
	r.Note = fmt.Sprintf("one run; attaching the %d disks to the stopped VM through the API took %v; the start request "+
		"(spec, domain created paused, disks attached by the agent, resumed) answered after %v; %s; %s",
		n, attach.Round(time.Second), started.Round(time.Second), g.stagingLog(vm.ID), g.guestMemInfo(ctx, t, vm.ID))
	return g.stop(ctx, vm.ID)
}

// stagingLog is the agent's account of a staged start from the engine's log.
func (g *guestEnv) stagingLog(vmID string) string {
	for _, l := range strings.Split(g.e.Log(), "\n") {
		if strings.Contains(l, "vm started in stages") && strings.Contains(l, vmID) {
			if i := strings.Index(l, "cold="); i >= 0 {
				return "agent: " + l[i:]
			}
		}
	}
	return "agent: not staged"
}

// guestMemInfo reports the guest's memory use, so the memory given per
// disk (guestMemory) can be checked against what the kernel took.
func (g *guestEnv) guestMemInfo(ctx context.Context, t *testing.T, vmID string) string {
	res, err := g.e.Agent(ctx, t).GuestExec(ctx, vmID, "/bin/busybox", []string{"cat", "/proc/meminfo"}, nil, 2*time.Minute)
	if err != nil {
		return fmt.Sprintf("guest memory unknown: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		for _, k := range []string{"MemTotal:", "MemAvailable:", "Slab:"} {
			if strings.HasPrefix(l, k) {
				keep = append(keep, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return "guest " + strings.Join(keep, ", ")
}

// rawStagedAndSee is the raw path for a domain QEMU cannot be started with
// in one go: virsh create --paused with its first cold disks, the rest
// attached through libvirt's API (virDomainAttachDeviceFlags, live), virsh
// resume; timed until the guest sees every disk.
func (g *guestEnv) rawStagedAndSee(ctx context.Context, d *libvirtxml.Domain, ids []string, cold int) (time.Duration, error) {
	s, err := d.Marshal()
	if err != nil {
		return 0, err
	}
	var first libvirtxml.Domain
	if err := first.Unmarshal(s); err != nil {
		return 0, err
	}
	rest := first.Devices.Disks[min(cold, len(first.Devices.Disks)):]
	first.Devices.Disks = first.Devices.Disks[:min(cold, len(first.Devices.Disks))]
	xs, err := first.Marshal()
	if err != nil {
		return 0, err
	}
	xmlPath := filepath.Join(g.dir, d.Name+"-paused.xml")
	if err := os.WriteFile(xmlPath, []byte(xs), 0o644); err != nil {
		return 0, err
	}
	conn, err := libvirtconn.Dial(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	console := d.Devices.Serials[0].Source.File.Path
	_ = os.Remove(console)
	start := time.Now()
	if err := virsh(ctx, "create", "--paused", xmlPath); err != nil {
		return 0, err
	}
	out, err := exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "domuuid", d.Name).Output()
	if err != nil {
		return 0, fmt.Errorf("virsh domuuid: %w", err)
	}
	uuid := strings.TrimSpace(string(out))
	for i, disk := range rest {
		x, err := disk.Marshal()
		if err != nil {
			return 0, err
		}
		if err := conn.AttachDevice(ctx, uuid, x); err != nil {
			return 0, fmt.Errorf("attach disk %d of %d: %w", i+1, len(rest), err)
		}
	}
	if err := virsh(ctx, "resume", d.Name); err != nil {
		return 0, err
	}
	_, err = testguest.WaitInventory(ctx, console, seesAll(ids))
	return time.Since(start), err
}
