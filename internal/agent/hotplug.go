package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/agent/domxml"
	"github.com/govirt/govirt/internal/vmspec"
)

// busySet counts the disk plugs and unplugs in progress per VM and disk.
type busySet struct {
	mu sync.Mutex
	n  map[[2]string]int
}

// enter counts a change of disk in vm until the returned func is called.
func (b *busySet) enter(vm, disk string) func() {
	k := [2]string{vm, disk}
	b.mu.Lock()
	if b.n == nil {
		b.n = map[[2]string]int{}
	}
	b.n[k]++
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		if b.n[k]--; b.n[k] <= 0 {
			delete(b.n, k)
		}
		b.mu.Unlock()
	}
}

// of lists the disks of vm with a change in progress.
func (b *busySet) of(vm string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.n {
		if k[0] == vm {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out
}

// HotPlugDisk attaches a disk to a running VM at the address the engine chose.
func (a *Agent) HotPlugDisk(ctx context.Context, vmID string, d vmspec.Disk) error {
	defer a.busy.enter(vmID, d.ID)()
	if err := ctx.Err(); err != nil {
		return err // the engine gave up (or died) before the call began
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if err := a.checkRoom(ctx, vmID, d); err != nil {
		return err
	}
	d, stop, err := a.proxied(ctx, vmID, d)
	if err != nil {
		return err
	}
	x, err := domxml.DiskXML(d, a.xmlOptions(vmID))
	if err != nil {
		stop()
		return err
	}
	if err := a.hv.AttachDevice(ctx, vmID, x); err != nil {
		stop()
		return fmt.Errorf("hot-plug disk %s: %w", d.ID, err)
	}
	a.watchVM(vmID)
	a.log.Info("disk hot-plugged", "vm", vmID, "disk", d.ID, "dev", d.TargetDev)
	return nil
}

// checkRoom checks that disk d can be plugged into the VM's domain as it
// runs: a SCSI disk's controller exists, a virtio-blk disk has a PCI slot.
// SCSI disks, the ones VMs have thousands of, are checked against the
// controllers the agent knows (see controllerSet).
func (a *Agent) checkRoom(ctx context.Context, vmID string, d vmspec.Disk) error {
	if d.Bus == vmspec.BusSCSI {
		if err := a.checkOwned(ctx, vmID); err != nil {
			return err
		}
		if a.ctls.has(vmID, d.Address.Controller) {
			return nil
		}
	}
	live, err := a.owned(ctx, vmID)
	if err != nil {
		return err
	}
	if d.Bus == vmspec.BusSCSI {
		a.ctls.set(vmID, liveControllers(live))
		if !hasController(live, d.Address.Controller) {
			return fmt.Errorf("%w: disk %s needs virtio-scsi controller %d, which the vm does not have",
				vmspec.ErrInvalid, d.ID, d.Address.Controller)
		}
	}
	if d.Bus == vmspec.BusVirtIO {
		return checkPCIRoom(live, vmID)
	}
	return nil
}

// checkPCIRoom refuses a PCI hot-plug past the count the VM could boot
// with: libvirt would use the slot it keeps for a bridge, and the next start
// of the same VM would not fit.
func checkPCIRoom(live domxml.Live, vmID string) error {
	if live.PCISlotsUsed >= vmspec.PCISlotsI440FX {
		return fmt.Errorf("%w: vm %s already uses %d PCI slots of %d", ErrPCISlotsExhausted, vmID, live.PCISlotsUsed, vmspec.PCISlotsI440FX)
	}
	return nil
}

func hasController(live domxml.Live, index uint16) bool {
	return slices.Contains(liveControllers(live), index)
}

// HotPlugController adds a virtio-scsi controller to a running VM, so that
// disks can be hot-plugged into a VM that was started without one.
func (a *Agent) HotPlugController(ctx context.Context, vmID string, c vmspec.Controller) error {
	live, err := a.owned(ctx, vmID)
	if err != nil {
		return err
	}
	if hasController(live, c.Index) {
		return nil
	}
	if err := checkPCIRoom(live, vmID); err != nil {
		return err
	}
	x, err := domxml.ControllerXML(c)
	if err != nil {
		return err
	}
	if err := a.hv.AttachDevice(ctx, vmID, x); err != nil {
		return fmt.Errorf("hot-plug virtio-scsi controller %d: %w", c.Index, err)
	}
	a.ctls.add(vmID, c.Index)
	return nil
}

// HotUnplugDisk detaches a disk and returns only once libvirt reports that
// the guest released it (the DeviceRemoved event), so the engine never
// reuses an address the guest still holds.
func (a *Agent) HotUnplugDisk(ctx context.Context, vmID, diskID string, timeout time.Duration) error {
	defer a.busy.enter(vmID, diskID)()
	if err := ctx.Err(); err != nil {
		return err // the engine gave up (or died) before the call began
	}
	if timeout <= 0 {
		timeout = a.cfg.UnplugTimeout
	}
	alias := vmspec.AliasPrefix + diskID
	live, err := a.owned(ctx, vmID)
	if err != nil {
		return err
	}
	dev, ok := liveByAlias(live, alias)
	if !ok {
		return fmt.Errorf("%w: %s", ErrDeviceNotFound, alias)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	evs := a.hv.Subscribe(wctx) // before detaching, so the event cannot be missed
	if err := a.hv.DetachDeviceAlias(ctx, vmID, alias); err != nil {
		return fmt.Errorf("hot-unplug disk %s: %w", diskID, err)
	}
	if err := a.waitRemoved(wctx, vmID, alias, evs); err != nil {
		return fmt.Errorf("hot-unplug disk %s: %w", diskID, err)
	}
	// QEMU has closed the LUN: its proxy can go.
	a.stopLUNProxy(vmID, diskID)
	if err := a.waitGuestReleased(wctx, vmID, dev.Serial); err != nil {
		return fmt.Errorf("hot-unplug disk %s: %w", diskID, err)
	}
	a.log.Info("disk hot-unplugged", "vm", vmID, "disk", diskID)
	return nil
}

func hasAlias(live domxml.Live, alias string) bool {
	_, ok := liveByAlias(live, alias)
	return ok
}

func liveByAlias(live domxml.Live, alias string) (LiveDevice, bool) {
	for _, dev := range live.Devices {
		if dev.Alias == alias {
			return dev, true
		}
	}
	return LiveDevice{}, false
}

// guestSerialLen is how much of a serial every guest sees: virtio-blk's ID
// and QEMU's SCSI device identification carry 20 characters.
const guestSerialLen = 20

// waitGuestReleased waits until the guest agent no longer reports a disk
// with serial. QEMU reports a virtio-scsi disk deleted at once, before the
// guest kernel has processed the event; this closes that window. A guest
// without a working agent cannot be asked: the libvirt event is then final.
func (a *Agent) waitGuestReleased(ctx context.Context, vmID, serial string) error {
	if serial == "" {
		return nil
	}
	want := serial[:min(len(serial), guestSerialLen)]
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		disks, err := a.GuestDisks(ctx, vmID)
		if errors.Is(err, ErrGuestAgent) {
			a.log.Debug("cannot confirm unplug with the guest agent", "vm", vmID, "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		seen := false
		for _, d := range disks {
			if strings.Contains(d.Serial, want) {
				seen = true
			}
		}
		if !seen {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the guest still has the disk with serial %s", ErrUnplugTimeout, want)
		case <-time.After(delay):
		}
	}
}

// waitRemoved waits for the removal event; it also re-reads the live XML now
// and then, in case the event was lost with a reconnect.
func (a *Agent) waitRemoved(ctx context.Context, vmID, alias string, evs <-chan Event) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			if ev.VMID != vmID || ev.Alias != alias {
				continue
			}
			switch ev.Kind {
			case EventDeviceRemoved:
				return nil
			case EventDeviceRemovalFailed:
				return fmt.Errorf("%w: the guest refused to release %s", ErrUnplugFailed, alias)
			}
		case <-tick.C:
			live, err := a.owned(ctx, vmID)
			if errors.Is(err, ErrNotFound) || err == nil && !hasAlias(live, alias) {
				return nil
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: %s still present", ErrUnplugTimeout, alias)
			}
			return ctx.Err()
		}
	}
}

// ChangeMedia inserts, changes or ejects (no file source) the media of a
// running VM's CD-ROM. A VM without that drive gets it hot-plugged.
func (a *Agent) ChangeMedia(ctx context.Context, vmID string, d vmspec.Disk) error {
	if d.Device != vmspec.DeviceCDROM {
		return fmt.Errorf("%w: disk %s is not a cdrom", vmspec.ErrInvalid, d.ID)
	}
	live, err := a.owned(ctx, vmID)
	if err != nil {
		return err
	}
	if !hasAlias(live, d.Alias()) {
		return a.HotPlugDisk(ctx, vmID, d)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	x, err := domxml.DiskXML(d, a.xmlOptions(vmID))
	if err != nil {
		return err
	}
	if err := a.hv.UpdateDevice(ctx, vmID, x); err != nil {
		return fmt.Errorf("change media of %s: %w", d.TargetDev, err)
	}
	a.log.Info("cdrom media changed", "vm", vmID, "media", d.File != nil)
	return nil
}
