// Command demo shows govirt's host agent at work on this machine: it boots
// the test guest with a virtio-SCSI controller and three disks at chosen
// addresses, hot-plugs a fourth, and prints what the guest reports next to
// what govirt assigned. scripts/demo.sh starts the agent and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/internal/vmspec"
)

func main() {
	addr := flag.String("addr", "unix:///run/govirt/demo/agent.sock", "agent address")
	stateDir := flag.String("agent-state-dir", "/var/lib/govirt/demo/agent", "the agent's --state-dir (for the console log)")
	storage := flag.String("storage", "/var/lib/govirt/demo/storage", "storage domain directory")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *addr, *stateDir, *storage); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, stateDir, storage string) error {
	img, err := testguest.Build(ctx, testguest.BuildOptions{CacheDir: testguest.DefaultCacheDir(), Logger: slog.Default()})
	if err != nil {
		return err
	}
	c, err := agentrpc.Dial(ctx, addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	vm := vmspec.VM{
		ID: uuid.NewString(), Name: fmt.Sprintf("demo-%d", time.Now().Unix()), MemoryMiB: 384, VCPUs: 1,
		Boot:       vmspec.DirectBoot{Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: img.Cmdline},
		GuestAgent: true, Controllers: []vmspec.Controller{{Index: 0}},
	}
	addrs := []scsi.DriveAddress{{Target: 0, Unit: 0}, {Target: 0, Unit: 1}, {Target: 2, Unit: 7}, {Target: 5, Unit: 300}}
	disks := make([]vmspec.Disk, len(addrs))
	for i := range disks {
		id := uuid.NewString()
		if _, err := c.CreateVolume(ctx, agent.Volume{DomainDir: storage, VolumeID: id, Format: vmspec.FormatQCOW2, SizeBytes: uint64(i+1) << 30}); err != nil {
			return err
		}
		a := addrs[i]
		disks[i] = vmspec.Disk{ID: id, Bus: vmspec.BusSCSI, Device: vmspec.DeviceDisk, TargetDev: scsi.DeviceName(scsi.PrefixSCSI, i),
			Address: &a, Serial: id, File: &vmspec.FileSource{DomainDir: storage, VolumeID: id, Format: vmspec.FormatQCOW2}}
	}
	vm.Disks = disks[:3]
	fmt.Printf("starting VM %s (%s) with 3 virtio-SCSI disks under TCG...\n", vm.Name, vm.ID)
	if err := c.StartVM(ctx, vm); err != nil {
		return err
	}
	console := filepath.Join(stateDir, "console", vm.ID+".log")
	if _, err := testguest.WaitInventory(ctx, console, seesAll(disks[:3])); err != nil {
		return err
	}
	fmt.Printf("hot-plugging a 4th disk at %v...\n", *disks[3].Address)
	if err := c.HotPlugDisk(ctx, vm.ID, disks[3]); err != nil {
		return err
	}
	inv, err := testguest.WaitInventory(ctx, console, seesAll(disks))
	if err != nil {
		return err
	}
	report(disks, inv)
	fmt.Printf("\nThe VM keeps running. Ask the guest agent:  govirt agentctl --addr %s guest-disks %s\n", addr, vm.ID)
	fmt.Printf("Power it off:                              govirt agentctl --addr %s shutdown %s\n", addr, vm.ID)
	return nil
}

func seesAll(disks []vmspec.Disk) func(testguest.Inventory) bool {
	return func(inv testguest.Inventory) bool {
		for _, d := range disks {
			if _, ok := guestDisk(inv, d.ID); !ok {
				return false
			}
		}
		return true
	}
}

func guestDisk(inv testguest.Inventory, id string) (testguest.Disk, bool) {
	for _, g := range inv.Disks {
		if len(g.Serial) >= 20 && strings.HasPrefix(id, g.Serial) {
			return g, true
		}
	}
	return testguest.Disk{}, false
}

func report(disks []vmspec.Disk, inv testguest.Inventory) {
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nDISK (serial)\tGOVIRT ASSIGNED C:B:T:U\tGUEST SEES H:C:T:L\tGUEST NAME\tSIZE")
	for _, d := range disks {
		g, _ := guestDisk(inv, d.ID)
		a := d.Address
		fmt.Fprintf(w, "%s\t%d:%d:%d:%d\t%s\t/dev/%s\t%d MiB\n", d.ID, a.Controller, a.Bus, a.Target, a.Unit, g.HCTL, g.Name, g.Size>>20)
	}
	w.Flush()
	fmt.Println("(units above 255 appear in SAM flat-space form: unit 300 = LUN 16684)")
}
