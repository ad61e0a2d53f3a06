//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/scsi"
)

// agentPoll isolates one cost govirt puts on a running guest: its monitor
// asks the guest agent for the guest's disks (guest-get-disks) every 2 s.
// On a virsh-created copy of a govirt domain, with no engine watching,
// hot-plugs alternate between a quiet guest and a guest polled like that.
func (s *suite) agentPoll(g *guestEnv) {
	s.run(benchreport.Result{ID: "guest/5-hotplug-agent-poll", Group: "Hot-plug",
		Name: fmt.Sprintf("virsh attach-device while guest-get-disks runs every 2 s, as govirt's monitor does (%d plugs)", min(s.tier.hotplugs, 40)),
		Unit: "ms", Better: benchreport.Lower, BaselineName: "virsh attach-device, no poll",
		Note: "raw domains only, plugs alternate between polled and quiet; isolates the monitor's guest-agent poll"},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			return g.agentPoll(ctx, r, min(s.tier.hotplugs, 40))
		})
}

func (g *guestEnv) agentPoll(ctx context.Context, r *benchreport.Result, count int) error {
	vm, booted, plugs, live, err := g.bootedVM(ctx, fmt.Sprintf("poll-%d", time.Now().Unix()), 8, count)
	if err != nil {
		return err
	}
	if err := g.stop(ctx, vm.ID); err != nil {
		return err
	}
	var tmpl *libvirtxml.DomainDisk
	for i := range live.Devices.Disks {
		if d := &live.Devices.Disks[i]; d.Alias != nil && strings.TrimPrefix(d.Alias.Name, "ua-") == booted[0] {
			tmpl = d
		}
	}
	if tmpl == nil || tmpl.Source == nil || tmpl.Source.File == nil {
		return fmt.Errorf("no file disk %s in the domain", booted[0])
	}
	rd := g.rawDomain(live, fmt.Sprintf("raw-poll-%d", time.Now().Unix()))
	if _, _, err := g.virshCreateAndSee(ctx, rd, booted); err != nil {
		return err
	}
	defer virsh(context.Background(), "destroy", rd.Name) //nolint:errcheck // best effort
	console := rd.Devices.Serials[0].Source.File.Path
	seen := append([]string{}, booted...)
	for i, id := range plugs {
		// The disk as govirt would describe it: the template with this
		// disk's file, serial, alias and a free drive address.
		s, err := tmpl.Marshal()
		if err != nil {
			return err
		}
		var d libvirtxml.DomainDisk
		if err := d.Unmarshal(s); err != nil {
			return err
		}
		d.Source.File.File = strings.ReplaceAll(tmpl.Source.File.File, booted[0], id)
		// Targets from 200 on are free: govirt filled target 0 only.
		ctl, bus, target, unit := uint(0), uint(0), uint(200+i/64), uint(i%64)
		d.Serial, d.Alias = id, &libvirtxml.DomainAlias{Name: "ua-" + id}
		d.Address = &libvirtxml.DomainAddress{Drive: &libvirtxml.DomainAddressDrive{Controller: &ctl, Bus: &bus, Target: &target, Unit: &unit}}
		d.Target.Dev = scsi.DeviceName(scsi.PrefixSCSI, 1000+i)
		if s, err = d.Marshal(); err != nil {
			return err
		}
		f := filepath.Join(g.dir, id+".xml")
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			return err
		}
		polled := i%2 == 0
		stop := func() {}
		if polled {
			stop = pollAgent(ctx, rd.Name)
		}
		seen = append(seen, id)
		err = timeBatches(ctx, console, seen[:len(seen)-1], []string{id}, 1,
			func(string) error { return virsh(ctx, "attach-device", rd.Name, f, "--live") }, pick(polled, &r.Samples, &r.Baseline))
		stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// pollAgent asks the domain's guest agent for its disks every 2 s, one
// request at a time, until the returned stop is called.
func pollAgent(ctx context.Context, dom string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			_ = virsh(ctx, "qemu-agent-command", dom, `{"execute":"guest-get-disks"}`) // errors: the guest is busy
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
