//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/benchreport"
)

// hotplug times count hot-plugs, parallel at a time, until the guest sees
// them: through the API into a running govirt guest, and with virsh
// attach-device into a virsh-created copy of the same domain running beside
// it, batch by batch, in alternating order, so that both sides meet the
// same moments of a noisy machine. With parallel 1 each sample is one disk;
// otherwise one sample is a batch.
func (g *guestEnv) hotplug(ctx context.Context, t *testing.T, r *benchreport.Result, count, parallel int) error {
	vm, booted, plugs, live, err := g.bootedVM(ctx, fmt.Sprintf("hp%d-%d", parallel, time.Now().Unix()), 8, count)
	if vm.ID != "" {
		defer func() { _ = g.stop(context.WithoutCancel(ctx), vm.ID) }()
	}
	if err != nil {
		return err
	}
	rd := g.rawDomain(live, fmt.Sprintf("raw-hp%d-%d", parallel, time.Now().Unix()))
	// Two QEMUs cannot hold one image: the copy gets blank files of its own.
	var template *libvirtxml.DomainDisk
	for i := range rd.Devices.Disks {
		d := &rd.Devices.Disks[i]
		if d.Source == nil || d.Source.File == nil || d.Address == nil || d.Address.Drive == nil {
			continue
		}
		if d.Source.File.File, err = g.blankImage(ctx, rd.Name, i); err != nil {
			return err
		}
		template = d
	}
	if template == nil {
		return fmt.Errorf("govirt's domain %s has no addressed image disk to copy", vm.ID)
	}
	if _, _, err := g.virshCreateAndSee(ctx, rd, booted); err != nil {
		return err
	}
	defer virsh(context.Background(), "destroy", rd.Name) //nolint:errcheck // best effort
	rawDisks := map[string]string{}                       // disk id -> its device XML file
	for k, id := range plugs {
		if rawDisks[id], err = g.rawDiskXML(ctx, rd.Name, template, id, k); err != nil {
			return err
		}
	}
	govirtPlug := func(id string) error {
		_, err := g.c.SetActive(ctx, vm.ID, id, true)
		return err
	}
	rawPlug := func(id string) error { return virsh(ctx, "attach-device", rd.Name, rawDisks[id], "--live") }
	sides := []struct {
		console string
		plug    func(string) error
		seen    []string
		out     *[]float64
	}{
		{g.e.ConsolePath(vm.ID), govirtPlug, append([]string{}, booted...), &r.Samples},
		{rd.Devices.Serials[0].Source.File.Path, rawPlug, append([]string{}, booted...), &r.Baseline},
	}
	for i, n := 0, 0; i < len(plugs); i, n = i+parallel, n+1 {
		batch := plugs[i:min(i+parallel, len(plugs))]
		for j := range sides {
			side := &sides[(j+n)%2] // govirt first in even batches, virsh first in odd ones
			side.seen = append(side.seen, batch...)
			took, err := plugAndSee(ctx, side.console, side.seen, batch, side.plug)
			if err != nil {
				return err
			}
			*side.out = append(*side.out, batchUnit(took, parallel))
		}
	}
	return nil
}

// bootedVM creates a guest with base active disks and count inactive ones,
// starts it until the guest sees the active ones, and returns it with the
// active and inactive disk ids and its live domain XML.
func (g *guestEnv) bootedVM(ctx context.Context, name string, base, count int) (ovirt.VM, []string, []string, *libvirtxml.Domain, error) {
	if g.e == nil {
		return ovirt.VM{}, nil, nil, nil, fmt.Errorf("no engine")
	}
	vm, ids, err := g.newVM(ctx, name, base, count, 0)
	if err != nil {
		return vm, nil, nil, nil, err
	}
	booted, plugs := ids[:base], ids[base:]
	if _, _, err := g.startAndSee(ctx, vm.ID, booted); err != nil {
		return vm, nil, nil, nil, err
	}
	live, err := g.liveXML(ctx, vm.ID)
	return vm, booted, plugs, live, err
}

// blankImage makes an empty 1 MiB qcow2 file for disk i of a raw domain.
func (g *guestEnv) blankImage(ctx context.Context, domain string, i int) (string, error) {
	path := filepath.Join(g.dir, fmt.Sprintf("%s-disk%d.qcow2", domain, i))
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", path, "1M").CombinedOutput(); err != nil {
		return "", fmt.Errorf("qemu-img create %s: %w: %s", path, err, out)
	}
	return path, nil
}

// rawDiskXML writes the k-th hot-plug disk of a raw domain: govirt's own
// disk element (same driver, same controller) with the disk's serial, a
// blank file and an address and name of its own, and returns its path.
func (g *guestEnv) rawDiskXML(ctx context.Context, domain string, template *libvirtxml.DomainDisk, id string, k int) (string, error) {
	raw, _ := template.Marshal()
	var d libvirtxml.DomainDisk
	if err := d.Unmarshal(raw); err != nil {
		return "", err
	}
	var err error
	if d.Source.File.File, err = g.blankImage(ctx, domain, 1000+k); err != nil {
		return "", err
	}
	d.Serial = id
	d.Alias = &libvirtxml.DomainAlias{Name: fmt.Sprintf("ua-raw-%d", k)}
	d.Target.Dev = fmt.Sprintf("sdz%c%c", 'a'+k/26%26, 'a'+k%26)
	target, unit := uint(10+k/64), uint(k%64)
	d.Address.Drive.Target, d.Address.Drive.Unit = &target, &unit
	x, err := d.Marshal()
	if err != nil {
		return "", err
	}
	path := filepath.Join(g.dir, fmt.Sprintf("%s-plug%d.xml", domain, k))
	return path, os.WriteFile(path, []byte(x), 0o644)
}
