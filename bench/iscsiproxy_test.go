//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/iscsi/guard"
	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/iscsi/sockguard"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// iscsiProxy measures the data path of the SCSI command policy enforcers on
// the host: QEMU's own iSCSI initiator (qemu-img bench: 256 KiB reads, 16 in
// flight) reads a 1 GiB tgtd LUN front to back (long enough that each
// connection's setup weighs little) through a filtered guard (the agent's
// default, with its kernel half), through the guard without it, through a
// filtered proxy, and directly, alternating in the same run. The issue asks for 0.9x of direct. A third row compares the proxy
// with a bare relay (io.Copy both ways, no parsing): what any user-space
// hop costs on this machine, to tell the proxy's own cost from the hop's.
func (s *suite) iscsiProxy() {
	const lunMiB, chunk = 1024, 256 << 10
	read := func(ctx context.Context, addr, iqn string) (float64, error) {
		if _, err := exec.LookPath("qemu-img"); err != nil {
			return 0, fmt.Errorf("qemu-img is missing: install Debian's qemu-utils (scripts/host-setup.sh does)")
		}
		opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=1", addr, iqn)
		start := time.Now()
		out, err := exec.CommandContext(ctx, "qemu-img", "bench", "--image-opts", "-c", fmt.Sprint(lunMiB<<20/chunk),
			"-d", "16", "-s", "256K", "-S", "256K", "-t", "none", opts).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("qemu-img bench on %s: %w: %s", addr, err, out)
		}
		return float64(lunMiB<<20) / time.Since(start).Seconds() / 1e6, nil
	}
	for _, row := range []struct {
		id, name, baseline string
		target             float64
		guard, relay       bool
		kernel             bool // the guard with its kernel half
	}{
		{"iscsi/guard-seq-read", "through a filtered guard (the agent's default: logins queued, commands checked on QEMU's socket)", "direct to tgtd", 0.9, true, false, true},
		{"iscsi/guard-queue-seq-read", "through a filtered guard without its kernel half (every command queued)", "direct to tgtd", 0.9, true, false, false},
		{"iscsi/proxy-seq-read", "through a filtered proxy", "direct to tgtd", 0.9, false, false, false},
		{"iscsi/proxy-vs-relay", "through a filtered proxy", "bare TCP relay (io.Copy)", 0, false, true, false},
	} {
		s.run(benchreport.Result{ID: row.id, Group: "iSCSI policy enforcement",
			Name: "host, sequential read, 256 KiB x 16 in flight (qemu-img bench): " + row.name,
			Unit: "MB/s", Better: benchreport.Higher, BaselineName: row.baseline, TargetRatio: row.target},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				tg := e2eutil.NewISCSITarget(t, 1, lunMiB)
				var front string
				if row.guard {
					target, err := netip.ParseAddrPort(tg.PortalAddr())
					if err != nil {
						return err
					}
					cfg := guard.Config{Target: target, FrontPort: benchGuardPort, Queue: benchGuardPort, Policy: scsipolicy.Filtered()}
					if row.kernel {
						h, err := sockguard.Open()
						if err != nil {
							return fmt.Errorf("the guard's kernel half: %w", err)
						}
						defer h.Close()
						cfg.Kernel = h
					}
					gd, err := guard.Start(ctx, cfg)
					if err != nil {
						return err
					}
					defer func() { _ = gd.Close() }()
					front = gd.Addr().String()
				} else {
					px, err := proxy.Start(ctx, proxy.Config{Target: tg.PortalAddr(), Policy: scsipolicy.Filtered()})
					if err != nil {
						return err
					}
					defer func() { _ = px.Close() }()
					front = px.Addr().String()
				}
				base := tg.PortalAddr()
				if row.relay {
					rl, err := startRelay(tg.PortalAddr())
					if err != nil {
						return err
					}
					defer rl.close()
					base = rl.ln.Addr().String()
				}
				return alternate(max(s.tier.runs, 5), r,
					func() (float64, error) { return read(ctx, front, tg.IQN) },
					func() (float64, error) { return read(ctx, base, tg.IQN) })
			})
	}
}

// benchGuardPort is the front port (and queue) of the bench's guard: in the
// agent's range, which no agent on this machine gets near.
const benchGuardPort = 29990

// relay forwards TCP connections to a target without looking at them: the
// floor of any user-space proxy (Go splices socket to socket here).
type relay struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rl := &relay{ln: ln}
	rl.wg.Add(1)
	go func() {
		defer rl.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			rl.wg.Add(2)
			for _, pair := range [][2]net.Conn{{t, c}, {c, t}} {
				go func() {
					defer rl.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					_ = pair[0].Close()
					_ = pair[1].Close()
				}()
			}
		}
	}()
	return rl, nil
}

func (rl *relay) close() {
	_ = rl.ln.Close()
	rl.wg.Wait()
}

// iscsiGuest measures what a guest sees: 1 MiB O_DIRECT reads inside a
// running guest from a pass-through LUN that govirt gave the filtered policy
// (through its proxy) against the same kind of LUN of the same target that
// `virsh attach-device` plugged into the same guest with QEMU connecting to
// tgtd directly (govirt proxies every pass-through iSCSI LUN, so that its
// policy can change live: the direct path is raw libvirt's). Alternating.
func (s *suite) iscsiGuest(g *guestEnv) {
	read := ioTest{"sequential read 1 MiB", []string{"dd", "if={dev}", "of=/dev/null", "bs=1M", "count=128", "iflag=direct"}}
	s.run(benchreport.Result{ID: "iscsi/proxy-guest-seq-read", Group: "iSCSI policy enforcement",
		Name: "guest, sequential read 1 MiB (dd O_DIRECT) from a pass-through LUN: filtered, through the agent's guard",
		Unit: "MB/s", Better: benchreport.Higher, BaselineName: "LUN plugged by virsh, QEMU to tgtd directly", TargetRatio: 0.9},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			tg := e2eutil.NewISCSITarget(t, 2, 256)
			vm, err := g.c.AddVM(ctx, ovirt.VM{Name: ovirt.Str(fmt.Sprintf("lunio-%d", time.Now().Unix())), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")},
				Memory: ovirt.I(384 << 20), OS: &ovirt.OS{Type: ovirt.Str("debian"), Kernel: &g.img.Kernel, Initrd: &g.img.Initrd, Cmdline: &g.img.Cmdline},
				VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(true)}, IO: &ovirt.IO{Threads: ovirt.I(1)}})
			if err != nil {
				return err
			}
			d := ovirt.Disk{Name: ovirt.Str(*vm.Name + "-lun"), Sgio: ovirt.Str("filtered"),
				LunStorage: &ovirt.HostStorage{Type: ovirt.Str("iscsi"), LogicalUnits: &ovirt.LogicalUnits{LogicalUnits: []ovirt.LogicalUnit{{
					ID: tg.IQN + ":1", Address: ovirt.Str(tg.Portal), Port: ovirt.I(int64(tg.Port)), Target: ovirt.Str(tg.IQN),
					LunMapping: ovirt.I(1), Serial: ovirt.Str(tg.Serials[1])}}}}}
			if _, err := g.c.Attach(ctx, vm.ID, ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true),
				Bootable: ovirt.B(false), Disk: &d}); err != nil {
				return fmt.Errorf("filtered LUN: %w", err)
			}
			defer func() { _ = g.stop(context.WithoutCancel(ctx), vm.ID) }()
			if _, _, err := g.startAndSee(ctx, vm.ID, []string{tg.Serials[1]}); err != nil {
				return err
			}
			if err := g.plugDirectLUN(ctx, vm.ID, tg, 2); err != nil {
				return err
			}
			inv, err := testguest.WaitInventory(ctx, g.e.ConsolePath(vm.ID), seesAll([]string{tg.Serials[1], tg.Serials[2]}))
			if err != nil {
				return err
			}
			if err := g.waitAgent(ctx, t, vm.ID); err != nil {
				return err
			}
			dev := guestBySerial(inv)
			proxied, direct := "/dev/"+dev[serialOf(tg.Serials[1])].Name, "/dev/"+dev[serialOf(tg.Serials[2])].Name
			if err := g.proxyCounts(ctx, t, vm.ID); err != nil {
				return err
			}
			return alternate(max(g.s.tier.runs, 5), r,
				func() (float64, error) { return g.ddRate(ctx, t, vm.ID, read, proxied) },
				func() (float64, error) { return g.ddRate(ctx, t, vm.ID, read, direct) })
		})
}

// plugDirectLUN hot-plugs LUN lun of tg into the running domain with
// `virsh attach-device`: a copy of the disk govirt made for the proxied LUN
// (same driver, same controller), pointing at tgtd itself.
func (g *guestEnv) plugDirectLUN(ctx context.Context, vmID string, tg *e2eutil.ISCSITarget, lun int) error {
	live, err := g.liveXML(ctx, vmID)
	if err != nil {
		return err
	}
	var src *libvirtxml.DomainDisk
	for i, d := range live.Devices.Disks {
		if d.Device == "lun" && d.Source != nil && d.Source.Network != nil {
			src = &live.Devices.Disks[i]
		}
	}
	if src == nil || src.Address == nil || src.Address.Drive == nil {
		return fmt.Errorf("govirt's domain %s has no addressed pass-through LUN to copy", vmID)
	}
	raw, _ := src.Marshal()
	var d libvirtxml.DomainDisk
	if err := d.Unmarshal(raw); err != nil {
		return err
	}
	d.Source.Network.Name = fmt.Sprintf("%s/%d", tg.IQN, lun)
	d.Source.Network.Hosts = []libvirtxml.DomainDiskSourceHost{{Name: tg.Portal, Port: fmt.Sprint(tg.Port)}}
	d.Target.Dev = "sdzz"
	d.Alias = &libvirtxml.DomainAlias{Name: "ua-bench-direct-lun"}
	unit := *d.Address.Drive.Unit + 1
	d.Address.Drive.Unit = &unit
	xml, err := d.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(g.dir, vmID+"-direct-lun.xml")
	if err := os.WriteFile(path, []byte(xml), 0o600); err != nil {
		return err
	}
	return virsh(ctx, "attach-device", vmID, path, "--live")
}

// proxyCounts checks that the filtered LUN really runs through a proxy
// (the agent reports its command counters) and the other does not: a
// comparison of two direct paths would prove nothing.
func (g *guestEnv) proxyCounts(ctx context.Context, t *testing.T, vmID string) error {
	stats, err := g.e.Agent(ctx, t).SCSIPolicyStats(ctx, vmID)
	if err != nil {
		return fmt.Errorf("proxy stats of %s: %w", vmID, err)
	}
	if len(stats) != 1 {
		return fmt.Errorf("want exactly one proxied LUN (the filtered one), the agent reports %d: %v", len(stats), stats)
	}
	return nil
}
