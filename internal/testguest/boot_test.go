package testguest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// These tests boot the real guest under the host's libvirtd (TCG). They wait
// only on what the guest reports, and fail loudly when libvirtd is missing.

func buildForTest(ctx context.Context, t *testing.T) Image {
	t.Helper()
	start := time.Now()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	img, err := Build(ctx, BuildOptions{Logger: log})
	if err != nil {
		t.Fatalf("building the test guest: %v", err)
	}
	t.Logf("Build took %v: %+v", time.Since(start).Round(time.Millisecond), img)
	return img
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// bootAndWait starts the guest and waits for GOVIRT-READY, logging the time.
func bootAndWait(ctx context.Context, t *testing.T, img Image, disks []*bootDisk) *guestVM {
	t.Helper()
	start := time.Now()
	vm := startGuest(ctx, t, img, disks)
	if err := WaitReady(ctx, vm.Console); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot: domain create -> GOVIRT-READY in %v", time.Since(start).Round(time.Millisecond))
	return vm
}

// wantDisk is what the inventory must show for a disk.
func wantDisk(d *bootDisk) func(Disk) error {
	return func(got Disk) error {
		if d.CDROM {
			if !strings.HasPrefix(got.Name, "sr") || got.HCTL != fmt.Sprintf("0:0:%d:%d", d.Target, d.Unit) {
				return fmt.Errorf("%s: got %s %s, want sr* at 0:0:%d:%d", d.Serial, got.Name, got.HCTL, d.Target, d.Unit)
			}
			return nil
		}
		if got.Size != uint64(d.SizeMiB)<<20 {
			return fmt.Errorf("%s: size %d, want %d", d.Serial, got.Size, uint64(d.SizeMiB)<<20)
		}
		if d.Bus == "virtio" {
			if !strings.HasPrefix(got.Name, "vd") || got.HCTL != "" {
				return fmt.Errorf("%s: got %s hctl %q, want a vd* disk without hctl", d.Serial, got.Name, got.HCTL)
			}
			return nil
		}
		lun := d.Unit
		if lun > 255 {
			lun |= 0x4000 // SAM flat space addressing
		}
		want := fmt.Sprintf("0:0:%d:%d", d.Target, lun)
		if !strings.HasPrefix(got.Name, "sd") || got.HCTL != want || got.Vendor != "QEMU" {
			return fmt.Errorf("%s: got %s %s vendor %q, want sd* at %s by QEMU", d.Serial, got.Name, got.HCTL, got.Vendor, want)
		}
		return nil
	}
}

// inventoryHas is a WaitInventory predicate: every disk in present is there
// as described, and no serial in absent is.
func inventoryHas(present []*bootDisk, absent ...string) func(Inventory) bool {
	return func(inv Inventory) bool {
		for _, d := range present {
			got, ok := inv.BySerial(d.Serial)
			if !ok || wantDisk(d)(got) != nil {
				return false
			}
		}
		for _, s := range absent {
			if _, ok := inv.BySerial(s); ok {
				return false
			}
		}
		return true
	}
}

func TestGuestBootInventoryAgentHotplug(t *testing.T) {
	requireLibvirt(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img := buildForTest(ctx, t)
	disks := []*bootDisk{
		{Bus: "scsi", Dev: "sda", Target: 0, Unit: 0, Serial: "boot-t0-u0", SizeMiB: 64},
		{Bus: "scsi", Dev: "sdb", Target: 3, Unit: 300, Serial: "boot-t3-u300", SizeMiB: 96},
		{Bus: "virtio", Dev: "vda", Serial: "boot-virtio", SizeMiB: 32},
		{CDROM: true, Bus: "scsi", Dev: "sdc", Target: 2, Unit: 0, Serial: "boot-cdrom"},
	}
	vm := bootAndWait(ctx, t, img, disks)
	inv, err := WaitInventory(ctx, vm.Console, inventoryHas(disks))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot %s", inv)
	if len(inv.Boot) != 36 {
		t.Errorf("the inventory names boot %q, not the kernel's boot_id", inv.Boot)
	}
	for _, d := range disks {
		got, _ := inv.BySerial(d.Serial)
		if err := wantDisk(d)(got); err != nil {
			t.Error(err)
		}
	}
	t.Run("guest-get-disks", func(t *testing.T) { checkAgentDisks(ctx, t, vm, inv, disks) })
	t.Run("guest-exec sg_inq", func(t *testing.T) { checkSgInq(ctx, t, vm, inv, disks[0]) })
	t.Run("hotplug", func(t *testing.T) { checkHotplug(ctx, t, vm, disks) })
	t.Run("agent shutdown", func(t *testing.T) {
		if _, err := virsh(ctx, "shutdown", vm.Name, "--mode", "agent"); err != nil {
			t.Fatal(err)
		}
		if err := vm.waitGone(ctx); err != nil {
			t.Fatalf("guest-shutdown did not power off: %v", err)
		}
	})
}

// checkAgentDisks compares qemu-ga's guest-get-disks with the inventory: the
// serial (udev's ID_SERIAL, which contains the disk's serial) and the name.
func checkAgentDisks(ctx context.Context, t *testing.T, vm *guestVM, inv Inventory, disks []*bootDisk) {
	raw, err := vm.agent(ctx, `{"execute":"guest-get-disks"}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Name    string `json:"name"`
		Address *struct {
			Serial  string `json:"serial"`
			BusType string `json:"bus-type"`
		} `json:"address"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decoding guest-get-disks %s: %v", raw, err)
	}
	for _, d := range disks {
		want, _ := inv.BySerial(d.Serial)
		found := false
		for _, g := range got {
			if g.Address != nil && strings.Contains(g.Address.Serial, d.Serial) {
				found = true
				if g.Name != "/dev/"+want.Name {
					t.Errorf("guest-get-disks: serial %s on %s, inventory says %s", d.Serial, g.Name, want.Name)
				}
			}
		}
		if !found {
			t.Errorf("guest-get-disks reports no disk with serial %s: %s", d.Serial, raw)
		}
	}
}

func checkSgInq(ctx context.Context, t *testing.T, vm *guestVM, inv Inventory, d *bootDisk) {
	disk, _ := inv.BySerial(d.Serial)
	res, err := vm.guestExec(ctx, "/usr/bin/sg_inq", "/dev/"+disk.Name)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "QEMU HARDDISK") {
		t.Fatalf("sg_inq /dev/%s: exit %d\nstdout:\n%s\nstderr:\n%s", disk.Name, res.ExitCode, res.Stdout, res.Stderr)
	}
}

// checkHotplug adds a SCSI and a virtio-blk disk, then removes both, waiting
// each time for the guest's inventory to follow.
func checkHotplug(ctx context.Context, t *testing.T, vm *guestVM, boot []*bootDisk) {
	scsi := &bootDisk{Bus: "scsi", Dev: "sdd", Target: 1, Unit: 2, Serial: "hot-t1-u2", SizeMiB: 48}
	virtio := &bootDisk{Bus: "virtio", Dev: "vdb", Serial: "hot-virtio", SizeMiB: 40}
	vm.hotplug(ctx, t, scsi, false)
	inv, err := WaitInventory(ctx, vm.Console, inventoryHas(append(boot[:len(boot):len(boot)], scsi)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after SCSI hot-plug %s", inv)
	vm.hotplug(ctx, t, virtio, false)
	all := append(boot[:len(boot):len(boot)], scsi, virtio)
	if inv, err = WaitInventory(ctx, vm.Console, inventoryHas(all)); err != nil {
		t.Fatal(err)
	}
	t.Logf("after virtio-blk hot-plug %s", inv)
	vm.hotplug(ctx, t, scsi, true)
	vm.hotplug(ctx, t, virtio, true)
	if inv, err = WaitInventory(ctx, vm.Console, inventoryHas(boot, scsi.Serial, virtio.Serial)); err != nil {
		t.Fatal(err)
	}
	t.Logf("after unplug %s", inv)
}

func TestGuestACPIShutdown(t *testing.T) {
	requireLibvirt(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := buildForTest(ctx, t)
	vm := bootAndWait(ctx, t, img, []*bootDisk{{Bus: "scsi", Dev: "sda", Serial: "acpi-disk", SizeMiB: 16}})
	if _, err := virsh(ctx, "shutdown", vm.Name, "--mode", "acpi"); err != nil {
		t.Fatal(err)
	}
	if err := vm.waitGone(ctx); err != nil {
		t.Fatalf("ACPI power button did not power off: %v", err)
	}
}
