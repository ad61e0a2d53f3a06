package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/vmspec"
)

// invT is what the invariant checks need: *testing.T, *testing.B and
// *rapid.T all have it.
type invT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkInvariants fails t with every broken invariant of one VM, as the
// store has it now.
func checkInvariants(t invT, v *env, vmID string) {
	t.Helper()
	var bad []string
	err := v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		bad, err = vmViolations(v.ctx, tx, vmID)
		return err
	})
	if err != nil {
		t.Fatalf("checking vm %s: %v", vmID, err)
	}
	if len(bad) > 0 {
		t.Fatalf("vm %s breaks %d invariants:\n\t%s", vmID, len(bad), strings.Join(bad, "\n\t"))
	}
}

// checkAllInvariants checks every VM in st and returns how many there are.
func checkAllInvariants(t invT, ctx context.Context, st store.Store) int {
	t.Helper()
	var bad []string
	n := 0
	err := st.View(ctx, func(tx store.Tx) error {
		vms, err := tx.ListVMs(ctx, store.ListOptions{})
		if err != nil {
			return err
		}
		n = len(vms)
		for _, vm := range vms {
			b, err := vmViolations(ctx, tx, vm.ID)
			if err != nil {
				return err
			}
			for _, m := range b {
				bad = append(bad, vm.Name+": "+m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("checking all vms: %v", err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d invariants broken:\n\t%s", len(bad), strings.Join(bad, "\n\t"))
	}
	return n
}

// vmViolations lists, one message each, what is wrong with a VM's rows:
//
//   - a VM is down exactly when it has no host; only active attachments of
//     a VM that is not down have logical names (the guest reported them);
//   - controller rows are virtio-scsi controllers with distinct indexes and,
//     when there are any, exactly the layout the VM's I/O threads and
//     multi-queues call for (one per thread, or one without threads);
//   - every attachment has exactly one disk device row and every disk device
//     row an attachment; attachment.Active == device.Plugged; the device kind
//     is lun exactly for a pass-through LUN on virtio-scsi;
//   - plugged virtio-scsi devices have a valid address on an existing
//     controller, unique among plugged devices; unplugged ones remember an
//     address only on an existing controller; other interfaces have none;
//   - plugged devices have a target dev with their bus's prefix, unique
//     among plugged devices;
//   - the CD-ROM row (no attachment) is plugged, on virtio-scsi with an
//     address in the disks' pool or on IDE without one;
//   - at most one bootable attachment, at most MaxIDEDisks plugged IDE and
//     scsi.MaxDisksPerVM plugged virtio-scsi disks, and the PCI devices fit
//     the machine (so the VM can boot).
//
// The database enforces the rest (foreign keys, one attachment per VM and
// disk, non-shareable disks on one VM).
func vmViolations(ctx context.Context, tx store.Tx, vmID string) ([]string, error) {
	vm, err := tx.GetVM(ctx, vmID)
	if err != nil {
		return nil, err
	}
	devs, err := tx.ListDevicesOfVM(ctx, vmID)
	if err != nil {
		return nil, err
	}
	atts, err := tx.ListAttachmentsOfVM(ctx, vmID)
	if err != nil {
		return nil, err
	}
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	if vm.Status.IsDown() != (vm.HostID == "") {
		add("status %q with host %q: a VM runs on a host exactly when it is not down", vm.Status, vm.HostID)
	}
	ctrls := map[uint16]model.ControllerSpec{}
	diskDevs := map[string]model.VmDevice{}
	var cdrom *model.VmDevice
	for _, d := range devs {
		switch d.Type {
		case model.DeviceTypeController:
			switch {
			case d.Device != model.DeviceVirtioSCSI || d.Controller == nil:
				add("controller row %s: device %q, spec %v; want a virtio-scsi spec", d.ID, d.Device, d.Controller)
			case !d.Plugged || d.Address != nil || d.TargetDev != "":
				add("controller row %s: plugged %v, address %v, target dev %q", d.ID, d.Plugged, d.Address, d.TargetDev)
			case d.Controller.Index < 0 || d.Controller.Index > 0xffff:
				add("controller row %s: index %d", d.ID, d.Controller.Index)
			default:
				if _, dup := ctrls[uint16(d.Controller.Index)]; dup {
					add("two controller rows with index %d", d.Controller.Index)
				}
				ctrls[uint16(d.Controller.Index)] = *d.Controller
			}
		case model.DeviceTypeDisk:
			if d.ID == CDROMID || d.Device == model.DeviceCDROM {
				cdrom = &d
				continue
			}
			diskDevs[d.ID] = d
		default:
			add("device row %s of unknown type %q", d.ID, d.Type)
		}
	}
	if len(ctrls) > 0 {
		if want := wantControllers(vm); !sameControllers(ctrls, want) {
			add("controllers %v, want %v for %d I/O threads and multi-queues %d", sortedControllers(ctrls), want, vm.IOThreads, vm.VirtioSCSIMultiQueues)
		}
	}

	pluggedAddr := map[scsi.DriveAddress]string{}
	pluggedName := map[string]string{}
	plugged := map[model.DiskInterface]int{}
	boot := 0
	if cdrom != nil {
		// The CD-ROM: always plugged; on virtio-scsi with an address from
		// the disks' pool on an existing controller, or on IDE without one.
		prefix := scsi.PrefixIDE
		switch a := cdrom.Address; {
		case cdrom.ID != CDROMID || cdrom.Device != model.DeviceCDROM || !cdrom.Plugged:
			add("cdrom row %s: device %q, plugged %v", cdrom.ID, cdrom.Device, cdrom.Plugged)
		case a != nil && (a.Validate() != nil || !hasController(ctrls, a.Controller)):
			add("cdrom at %v, which is invalid or on a controller the VM does not have", *a)
		case a != nil:
			prefix = scsi.PrefixSCSI
			pluggedAddr[*a] = "cdrom"
		}
		if !strings.HasPrefix(cdrom.TargetDev, prefix) || len(cdrom.TargetDev) <= len(prefix) {
			add("cdrom (address %v) named %q, want prefix %s", cdrom.Address, cdrom.TargetDev, prefix)
		}
		pluggedName[cdrom.TargetDev] = "cdrom"
	}
	for _, a := range atts {
		if a.LogicalName != "" && (vm.Status.IsDown() || !a.Active) {
			add("disk %s: logical name %q, active %v on a VM that is %s", a.DiskID, a.LogicalName, a.Active, vm.Status)
		}
		if a.Bootable {
			boot++
		}
		d, err := tx.GetDisk(ctx, a.DiskID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				add("attachment of missing disk %s", a.DiskID)
				continue
			}
			return nil, err
		}
		dev, ok := diskDevs[a.DiskID]
		if !ok {
			add("attachment of disk %s (%s) has no device row", d.Alias, a.DiskID)
			continue
		}
		delete(diskDevs, a.DiskID)
		if a.Active != dev.Plugged {
			add("disk %s: attachment active %v, device plugged %v", d.Alias, a.Active, dev.Plugged)
		}
		wantKind := model.DeviceDisk
		if d.PassThrough() && a.Interface == model.InterfaceVirtIOSCSI {
			wantKind = model.DeviceLUN
		}
		if dev.Device != wantKind {
			add("disk %s: device %q, want %q (sgio %q on %s)", d.Alias, dev.Device, wantKind, d.SGIO, a.Interface)
		}
		if dev.Plugged {
			plugged[a.Interface]++
			prefix := devicePrefixOf(a.Interface)
			switch other, dup := pluggedName[dev.TargetDev]; {
			case dev.TargetDev == "":
				add("disk %s: plugged without a target dev", d.Alias)
			case !strings.HasPrefix(dev.TargetDev, prefix):
				add("disk %s: target dev %s on %s, want prefix %s", d.Alias, dev.TargetDev, a.Interface, prefix)
			case dup:
				add("disks %s and %s are both plugged as %s", other, d.Alias, dev.TargetDev)
			}
			pluggedName[dev.TargetDev] = d.Alias
		}
		if a.Interface != model.InterfaceVirtIOSCSI {
			if dev.Address != nil {
				add("disk %s on %s has a drive address %v", d.Alias, a.Interface, *dev.Address)
			}
			continue
		}
		switch {
		case dev.Address == nil && dev.Plugged:
			add("disk %s: plugged on virtio-scsi without an address", d.Alias)
		case dev.Address == nil:
		case dev.Address.Validate() != nil:
			add("disk %s: %v", d.Alias, dev.Address.Validate())
		case !hasController(ctrls, dev.Address.Controller):
			add("disk %s (plugged %v) at %v on controller %d, which the VM does not have", d.Alias, dev.Plugged, *dev.Address, dev.Address.Controller)
		case dev.Plugged:
			if other, dup := pluggedAddr[*dev.Address]; dup {
				add("disks %s and %s are both plugged at %v", other, d.Alias, *dev.Address)
			}
			pluggedAddr[*dev.Address] = d.Alias
		}
	}
	for id := range diskDevs {
		add("disk device row %s has no attachment", id)
	}
	if boot > 1 {
		add("%d bootable attachments", boot)
	}
	if n := plugged[model.InterfaceIDE]; n > MaxIDEDisks {
		add("%d plugged IDE disks, at most %d", n, MaxIDEDisks)
	}
	if n := plugged[model.InterfaceVirtIOSCSI]; n > scsi.MaxDisksPerVM {
		add("%d plugged virtio-scsi disks, at most %d", n, scsi.MaxDisksPerVM)
	}
	// The guest agent's virtio-serial, the controllers and virtio-blk disks.
	if n := 1 + len(ctrls) + plugged[model.InterfaceVirtIO]; n > vmspec.PCISlotsI440FX {
		add("%d PCI devices (%d controllers, %d virtio-blk disks, virtio-serial), at most %d: the VM cannot boot",
			n, len(ctrls), plugged[model.InterfaceVirtIO], vmspec.PCISlotsI440FX)
	}
	return bad, nil
}

// wantControllers is the controller layout of a VM with virtio-scsi,
// written out independently of the engine's desiredControllers.
func wantControllers(vm model.VM) []model.ControllerSpec {
	var out []model.ControllerSpec
	for i := range max(1, vm.IOThreads) {
		c := model.ControllerSpec{Index: i}
		if vm.IOThreads > 0 {
			c.IOThread = i + 1
		}
		if vm.VirtioSCSIMultiQueues > 0 {
			c.Queues = vm.VirtioSCSIMultiQueues
		}
		out = append(out, c)
	}
	return out
}

func sameControllers(got map[uint16]model.ControllerSpec, want []model.ControllerSpec) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if g, ok := got[uint16(w.Index)]; !ok || g != w {
			return false
		}
	}
	return true
}

func sortedControllers(m map[uint16]model.ControllerSpec) []model.ControllerSpec {
	out := make([]model.ControllerSpec, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func hasController(m map[uint16]model.ControllerSpec, idx uint16) bool {
	_, ok := m[idx]
	return ok
}

// devicePrefixOf is the kernel name prefix of a bus, written out
// independently of the engine's devicePrefix.
func devicePrefixOf(i model.DiskInterface) string {
	switch i {
	case model.InterfaceVirtIO:
		return scsi.PrefixVirtIO
	case model.InterfaceIDE:
		return scsi.PrefixIDE
	}
	return scsi.PrefixSCSI
}

// checkHostView fails t unless the fake host's view of a VM matches the
// engine's: a VM that is down runs nowhere; a running one has on the host
// exactly its plugged, active disks, at the same addresses and names (the
// CD-ROM aside).
func checkHostView(t invT, v *env, vmID string) {
	t.Helper()
	var vm model.VM
	var devs []model.VmDevice
	var atts []model.DiskAttachment
	err := v.st.View(v.ctx, func(tx store.Tx) error {
		var err error
		if vm, err = tx.GetVM(v.ctx, vmID); err != nil {
			return err
		}
		if devs, err = tx.ListDevicesOfVM(v.ctx, vmID); err != nil {
			return err
		}
		atts, err = tx.ListAttachmentsOfVM(v.ctx, vmID)
		return err
	})
	if err != nil {
		t.Fatalf("reading vm %s: %v", vmID, err)
	}
	v.host.mu.Lock()
	onHost, runs := v.host.running[vmID]
	v.host.mu.Unlock()
	if vm.Status.IsDown() {
		if runs {
			t.Fatalf("vm %s is down but runs on the host with %d disks", vm.Name, len(onHost.Disks))
		}
		return
	}
	if !runs {
		t.Fatalf("vm %s is %s but the host does not run it", vm.Name, vm.Status)
	}
	active := map[string]bool{}
	for _, a := range atts {
		active[a.DiskID] = a.Active
	}
	want := map[string]string{}
	for _, d := range devs {
		if d.Type == model.DeviceTypeDisk && d.Plugged && active[d.ID] {
			want[d.ID] = diskView(d.Address, d.TargetDev)
		}
	}
	got := map[string]string{}
	for _, d := range onHost.Disks {
		if d.ID == CDROMID {
			continue // the fake host does not follow live media changes
		}
		if _, dup := got[d.ID]; dup {
			t.Fatalf("vm %s: disk %s is plugged twice on the host", vm.Name, d.ID)
		}
		got[d.ID] = diskView(d.Address, d.TargetDev)
	}
	var diffs []string
	for id, w := range want {
		if g, ok := got[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("disk %s: engine has it plugged (%s), the host does not", id, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("disk %s: engine %s, host %s", id, w, g))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("disk %s: on the host (%s) but not plugged in the engine", id, g))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Fatalf("vm %s: engine and host disagree:\n\t%s", vm.Name, strings.Join(diffs, "\n\t"))
	}
}

func diskView(a *scsi.DriveAddress, name string) string {
	if a == nil {
		return "no address, " + name
	}
	return fmt.Sprintf("%d:%d:%d:%d, %s", a.Controller, a.Bus, a.Target, a.Unit, name)
}
