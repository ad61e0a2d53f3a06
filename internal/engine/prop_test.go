package engine

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// The property tests share one SQLite environment (opening it runs the
// migrations) and give each rapid check a fresh VM. Ids come from a counter,
// so that they sort in creation order and a replayed check draws the same
// disks; it leads the id, because guests see only its first 20 characters.

// propEnv is an env whose engine numbers its ids. Its database lives in
// memory (/dev/shm) where there is one: the properties are about the
// engine's rows, not durability, and fsync made up half their time.
func propEnv(t *testing.T) *env {
	t.Helper()
	dsn := sqltest.SQLite(t)
	if dir, err := os.MkdirTemp("/dev/shm", "govirt-prop-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		dsn = "sqlite:" + filepath.Join(dir, "govirt.db")
	}
	v := newEnv(t, dsn, model.Version48)
	var n atomic.Int64
	v.e = New(Deps{Store: v.st, Hosts: fakeHosts{v.host}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewID: func() string { i := n.Add(1); return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }})
	return v
}

// hostMethods are the fake host's methods the machine makes fail.
var hostMethods = []string{"HotPlugDisk", "HotUnplugDisk", "HotPlugController", "StartVM", "DestroyVM", "ShutdownVM", "CreateVolume", "ChangeMedia"}

// propMachine runs random commands on one VM and checks after each that
// the rows keep their invariants and that the host agrees with them.
type propMachine struct {
	v        *env
	vm       model.VM
	ifaces   []model.DiskInterface // drawn for new attachments
	floating []string              // detached, not removed: may attach again
	// remembered is the address each unplugged virtio-scsi disk had when it
	// was unplugged; the device row must keep it until the disk is plugged.
	remembered map[string]scsi.DriveAddress
}

var propSeq atomic.Int64

func newPropMachine(t *rapid.T, v *env, ifaces []model.DiskInterface) *propMachine {
	v.host.mu.Lock()
	clear(v.host.fail)
	v.host.mu.Unlock()
	name := fmt.Sprintf("prop-%d", propSeq.Add(1))
	threads := rapid.IntRange(0, 4).Draw(t, "ioThreads")
	scsiOn := rapid.IntRange(0, 4).Draw(t, "virtioSCSI") > 0
	vm, err := v.e.AddVM(v.ctx, VMParams{Name: &name, ClusterID: &v.cluster.ID, OSType: ptr("debian"),
		IOThreads: &threads, VirtioSCSIEnabled: &scsiOn})
	if err != nil {
		t.Fatalf("add vm: %v", err)
	}
	return &propMachine{v: v, vm: vm, ifaces: ifaces, remembered: map[string]scsi.DriveAddress{}}
}

func (m *propMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"":               m.check,
		"attachNew":      m.attachNew,
		"attachFloating": m.attachFloating,
		"detach":         m.detach,
		"plug":           func(t *rapid.T) { m.plug(t, true) },
		"unplug":         func(t *rapid.T) { m.plug(t, false) },
		"virtioSCSI":     m.virtioSCSI,
		"ioThreads":      m.ioThreads,
		"changeIface":    m.changeIface,
		"run":            func(t *rapid.T) { m.power(t, "run") },
		"stop":           func(t *rapid.T) { m.power(t, rapid.SampledFrom([]string{"stop", "shutdown"}).Draw(t, "how")) },
		"hostFault":      m.hostFault,
		"cdrom":          m.cdrom,
		"guestReport":    m.guestReport,
		"guestPowerOff":  m.guestPowerOff,
	}
}

func (m *propMachine) check(t *rapid.T) {
	checkInvariants(t, m.v, m.vm.ID)
	checkHostView(t, m.v, m.vm.ID)
	if len(m.remembered) == 0 {
		return
	}
	devs := m.devices(t)
	for id, addr := range m.remembered {
		if dev, ok := devs[id]; !ok || dev.Plugged || dev.Address == nil || *dev.Address != addr {
			t.Fatalf("disk %s was unplugged at %v; its device row now says %+v", id, addr, dev)
		}
	}
}

// ok fails t unless err is nil or a user-facing error; a host failure must
// come from an injected one.
func (m *propMachine) ok(t *rapid.T, op string, err error) bool {
	t.Helper()
	if err == nil {
		t.Logf("%s: ok", op)
		return true
	}
	key := apperr.KeyOf(err)
	if key == "" {
		t.Fatalf("%s: not a user-facing error: %v", op, err)
	}
	m.v.host.mu.Lock()
	failing := len(m.v.host.fail) > 0
	m.v.host.mu.Unlock()
	if key == apperr.HostCallFailed && !failing {
		t.Fatalf("%s: host call failed with no failure injected: %v", op, err)
	}
	if key == apperr.ExceededMaxVirtIOSCSIDisks {
		t.Fatalf("%s: %v, with far fewer than %d disks", op, err, scsi.MaxDisksPerVM)
	}
	t.Logf("%s: %s", op, key)
	return false
}

func (m *propMachine) attachNew(t *rapid.T) {
	v := m.v
	alias := fmt.Sprintf("d%d", propSeq.Add(1))
	p := DiskParams{Alias: &alias, ProvisionedSize: ptr(int64(1 << 30)), StorageDomainID: &v.sd.ID}
	if rapid.IntRange(0, 3).Draw(t, "lun") > 0 {
		sgio := rapid.SampledFrom([]model.ScsiGenericIO{model.SGIODisabled, model.SGIOFiltered, model.SGIOUnfiltered}).Draw(t, "sgio")
		p = DiskParams{Alias: &alias, SGIO: &sgio,
			LUN: &model.ISCSILun{Address: "127.0.0.1", Port: 3260, Target: "iqn.2026-11.dev.govirt:prop", LunID: alias}}
	}
	if rapid.IntRange(0, 3).Draw(t, "oneRequest") == 0 {
		// POST /vms/{id}/diskattachments with a new disk: a refused attach
		// leaves no disk behind.
		ap := m.drawAttach(t)
		a, err := v.e.AddDiskAndAttach(v.ctx, m.vm.ID, p, ap)
		op := fmt.Sprintf("add and attach %s %s active=%v boot=%v", alias, *ap.Interface, *ap.Active, *ap.Bootable)
		if m.ok(t, op, err) && (a.DiskID == "" || a.Active != *ap.Active) {
			t.Fatalf("%s returned %+v", op, a)
		}
		left := read(t, v, func(tx store.Tx) ([]model.Disk, error) { return tx.ListDisks(v.ctx, store.ListOptions{Name: alias}) })
		if err != nil && len(left) > 0 {
			t.Fatalf("%s failed but left disk %s behind", op, left[0].ID)
		}
		return
	}
	d, err := v.e.AddDisk(v.ctx, p)
	if m.ok(t, "add disk "+alias, err) && !m.attach(t, d.ID) {
		m.floating = append(m.floating, d.ID)
	}
}

func (m *propMachine) attachFloating(t *rapid.T) {
	if len(m.floating) == 0 {
		return // nothing to attach: the action is a no-op in this state
	}
	i := rapid.IntRange(0, len(m.floating)-1).Draw(t, "floating")
	id := m.floating[i]
	if m.attach(t, id) {
		m.floating = slices.Delete(m.floating, i, i+1)
	}
}

// attach attaches a disk with drawn settings and tells whether the
// attachment exists afterwards (a failed hot plug keeps it inactive).
func (m *propMachine) attach(t *rapid.T, diskID string) bool {
	v := m.v
	p := m.drawAttach(t)
	_, err := v.e.AttachDisk(v.ctx, m.vm.ID, diskID, p)
	m.ok(t, fmt.Sprintf("attach %s %s active=%v boot=%v", diskID, *p.Interface, *p.Active, *p.Bootable), err)
	return read(t, v, func(tx store.Tx) (bool, error) {
		_, err := tx.GetAttachment(v.ctx, m.vm.ID, diskID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
}

// read returns what fn reads in a read-only transaction.
func read[T any](t invT, v *env, fn func(tx store.Tx) (T, error)) T {
	t.Helper()
	var out T
	if err := v.st.View(v.ctx, func(tx store.Tx) (err error) { out, err = fn(tx); return err }); err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

func (m *propMachine) drawAttach(t *rapid.T) AttachParams {
	return AttachParams{Interface: ptr(rapid.SampledFrom(m.ifaces).Draw(t, "iface")),
		Active: ptr(rapid.IntRange(0, 3).Draw(t, "active") > 0), Bootable: ptr(rapid.IntRange(0, 5).Draw(t, "bootable") == 0)}
}

// attached returns the VM's attachments by disk id.
func (m *propMachine) attached(t *rapid.T) []model.DiskAttachment {
	atts := read(t, m.v, func(tx store.Tx) ([]model.DiskAttachment, error) { return tx.ListAttachmentsOfVM(m.v.ctx, m.vm.ID) })
	slices.SortFunc(atts, func(a, b model.DiskAttachment) int { return strings.Compare(a.DiskID, b.DiskID) })
	return atts
}

// drawAttachment picks an attachment; ok is false when the VM has none, and
// the action is then a no-op.
func (m *propMachine) drawAttachment(t *rapid.T) (a model.DiskAttachment, ok bool) {
	atts := m.attached(t)
	if len(atts) == 0 {
		return a, false
	}
	return atts[rapid.IntRange(0, len(atts)-1).Draw(t, "attachment")], true
}

// devices returns the VM's device rows by id.
func (m *propMachine) devices(t *rapid.T) map[string]model.VmDevice {
	out := map[string]model.VmDevice{}
	for _, d := range read(t, m.v, func(tx store.Tx) ([]model.VmDevice, error) { return tx.ListDevicesOfVM(m.v.ctx, m.vm.ID) }) {
		out[d.ID] = d
	}
	return out
}

func (m *propMachine) detach(t *rapid.T) {
	a, ok := m.drawAttachment(t)
	if !ok {
		return
	}
	remove := rapid.Bool().Draw(t, "remove")
	err := m.v.e.DetachDisk(m.v.ctx, m.vm.ID, a.DiskID, remove)
	if !m.ok(t, fmt.Sprintf("detach %s remove=%v", a.DiskID, remove), err) {
		return
	}
	delete(m.remembered, a.DiskID)
	if _, ok := m.devices(t)[a.DiskID]; ok {
		t.Fatalf("detach %s left its device row", a.DiskID)
	}
	if !remove {
		m.floating = append(m.floating, a.DiskID)
	}
}

// plug hot-plugs or hot-unplugs (cold on a down VM) and checks the
// outcome, and that an address no plugged device took meanwhile comes back.
func (m *propMachine) plug(t *rapid.T, on bool) {
	a, ok := m.drawAttachment(t)
	if !ok {
		return
	}
	devs := m.devices(t)
	before := devs[a.DiskID]
	taken, names := map[scsi.DriveAddress]bool{}, map[string]bool{}
	for _, d := range devs {
		if d.Plugged && d.Address != nil {
			taken[*d.Address] = true
		}
		names[d.TargetDev] = names[d.TargetDev] || d.Plugged
	}
	op := fmt.Sprintf("plug %s (%s, was active=%v)", a.DiskID, a.Interface, a.Active)
	var err error
	if on {
		_, err = m.v.e.HotPlug(m.v.ctx, m.vm.ID, a.DiskID)
	} else {
		op = "un" + op
		_, err = m.v.e.HotUnplug(m.v.ctx, m.vm.ID, a.DiskID)
	}
	done := m.ok(t, op, err)
	after, ok := m.devices(t)[a.DiskID]
	if !ok {
		t.Fatalf("%s: device row gone", op)
	}
	switch {
	case done && after.Plugged != on:
		t.Fatalf("%s succeeded but the device is plugged=%v", op, after.Plugged)
	case apperr.KeyOf(err) == apperr.HostCallFailed && after.Plugged != a.Active:
		t.Fatalf("%s failed on the host but plugged went %v -> %v", op, a.Active, after.Plugged)
	}
	if on && !a.Active && after.Plugged && before.TargetDev != "" && !names[before.TargetDev] && after.TargetDev != before.TargetDev {
		t.Fatalf("%s: name %s was free, but the disk got %s", op, before.TargetDev, after.TargetDev)
	}
	if a.Interface != model.InterfaceVirtIOSCSI || before.Address == nil {
		return
	}
	if on && !a.Active && after.Plugged && !taken[*before.Address] && *after.Address != *before.Address {
		t.Fatalf("%s: remembered %v was free, but the disk got %v", op, *before.Address, *after.Address)
	}
	if after.Plugged || after.Address == nil {
		delete(m.remembered, a.DiskID)
	} else {
		m.remembered[a.DiskID] = *after.Address
	}
	if !on && done && a.Active && *after.Address != *before.Address {
		t.Fatalf("%s: unplugged at %v, was at %v", op, *after.Address, *before.Address)
	}
}

// forgetGone drops remembered addresses the device rows no longer keep
// (their controller went away with an I/O-thread or virtio-scsi change).
func (m *propMachine) forgetGone(t *rapid.T) {
	devs := m.devices(t)
	for id, addr := range m.remembered {
		if dev := devs[id]; dev.Address == nil || *dev.Address != addr {
			if dev.Address != nil {
				t.Fatalf("disk %s: remembered %v became %v", id, addr, *dev.Address)
			}
			delete(m.remembered, id)
		}
	}
}

func (m *propMachine) virtioSCSI(t *rapid.T) {
	on := rapid.Bool().Draw(t, "enable")
	_, err := m.v.e.UpdateVM(m.v.ctx, m.vm.ID, VMParams{VirtioSCSIEnabled: &on})
	m.ok(t, fmt.Sprintf("virtio-scsi enabled=%v", on), err)
	m.forgetGone(t)
}

func (m *propMachine) ioThreads(t *rapid.T) {
	p := VMParams{IOThreads: ptr(rapid.IntRange(0, 4).Draw(t, "threads"))}
	if rapid.IntRange(0, 3).Draw(t, "queues?") == 0 {
		p.VirtioSCSIMultiQueues = ptr(rapid.IntRange(-1, 4).Draw(t, "queues"))
	}
	_, err := m.v.e.UpdateVM(m.v.ctx, m.vm.ID, p)
	m.ok(t, fmt.Sprintf("io threads %d", *p.IOThreads), err)
	m.forgetGone(t)
}

func (m *propMachine) changeIface(t *rapid.T) {
	a, ok := m.drawAttachment(t)
	if !ok {
		return
	}
	p := AttachParams{Interface: ptr(rapid.SampledFrom(m.ifaces).Draw(t, "iface"))}
	if rapid.IntRange(0, 3).Draw(t, "boot?") == 0 {
		p.Bootable = ptr(!a.Bootable)
	}
	_, err := m.v.e.UpdateAttachment(m.v.ctx, m.vm.ID, a.DiskID, p)
	if m.ok(t, fmt.Sprintf("update %s %s -> %s", a.DiskID, a.Interface, *p.Interface), err) {
		if *p.Interface != a.Interface || p.Bootable != nil {
			delete(m.remembered, a.DiskID) // a new interface gets a new address
		}
	}
}

// power runs, stops or shuts the VM down.
func (m *propMachine) power(t *rapid.T, op string) {
	var err error
	switch op {
	case "run":
		_, err = m.v.e.RunVM(m.v.ctx, m.vm.ID)
	case "stop":
		_, err = m.v.e.StopVM(m.v.ctx, m.vm.ID)
	default:
		_, err = m.v.e.ShutdownVM(m.v.ctx, m.vm.ID, 0)
	}
	m.ok(t, op, err)
}

// cdrom inserts or ejects the CD-ROM's media, live or for the next run;
// the first use creates the drive (on virtio-scsi, with an address).
func (m *propMachine) cdrom(t *rapid.T) {
	file := rapid.SampledFrom([]string{"", "install.iso", "tools.iso"}).Draw(t, "iso")
	current := rapid.Bool().Draw(t, "current")
	_, err := m.v.e.SetCDROM(m.v.ctx, m.vm.ID, file, current)
	m.ok(t, fmt.Sprintf("cdrom %q current=%v", file, current), err)
}

// runningOn returns the host of the VM; ok is false when the VM is down,
// and the action is then a no-op.
func (m *propMachine) runningOn(t *rapid.T) (host string, ok bool) {
	vm, err := m.v.e.getVM(m.v.ctx, m.vm.ID)
	if err != nil {
		t.Fatalf("get vm: %v", err)
	}
	return vm.HostID, !vm.Status.IsDown()
}

// guestReport: the guest agent of the running VM reports the disks it sees,
// named by their target devs; active attachments get those names.
func (m *propMachine) guestReport(t *rapid.T) {
	if _, ok := m.runningOn(t); !ok {
		return
	}
	m.v.host.mu.Lock()
	var gd []GuestDisk
	for _, d := range m.v.host.running[m.vm.ID].Disks {
		if d.ID != CDROMID {
			gd = append(gd, GuestDisk{Name: "/dev/" + d.TargetDev, Serial: d.Serial})
		}
	}
	m.v.host.mu.Unlock()
	_, err := m.v.e.ReportGuestDisks(m.v.ctx, m.vm.ID, gd)
	m.ok(t, "guest report", err)
	devs := m.devices(t)
	for _, a := range m.attached(t) {
		if dev := devs[a.DiskID]; a.LogicalName != "" && a.LogicalName != "/dev/"+dev.TargetDev {
			t.Fatalf("disk %s (%s) got logical name %s", a.DiskID, dev.TargetDev, a.LogicalName)
		}
	}
}

// guestPowerOff: the guest powers itself off; the host reports it gone.
func (m *propMachine) guestPowerOff(t *rapid.T) {
	host, ok := m.runningOn(t)
	if !ok {
		return
	}
	m.v.host.mu.Lock()
	delete(m.v.host.running, m.vm.ID)
	m.v.host.mu.Unlock()
	m.ok(t, "guest powered off", m.v.e.ReportRunning(m.v.ctx, host, map[string]bool{}, nil))
}

// fewerChecks makes rapid run n checks in t instead of its default 100,
// unless -rapid.checks or RAPID_CHECKS asks for a number: a check here is
// some thirty engine commands.
func fewerChecks(t *testing.T, n int) {
	t.Helper()
	f := flag.Lookup("rapid.checks")
	given := f == nil || f.DefValue != "100"
	flag.Visit(func(g *flag.Flag) { given = given || g == f })
	if given {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// hostFault makes one host method fail, or stop failing.
func (m *propMachine) hostFault(t *rapid.T) {
	method := rapid.SampledFrom(hostMethods).Draw(t, "method")
	h := m.v.host
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail[method] != nil {
		delete(h.fail, method)
		t.Logf("host %s works again", method)
		return
	}
	h.fail[method] = fmt.Errorf("injected %s failure", method)
	t.Logf("host %s fails", method)
}

// TestPropNoTwoPluggedDevicesShareAnAddress: no sequence of attach (also in
// one request with a new disk), detach, plug, unplug, interface, boot,
// virtio-scsi, I/O-thread, CD-ROM, run and stop commands, guest reports and
// guest power-offs, with host failures, breaks the invariants (in
// particular two plugged devices with one address or name) or makes the
// engine and the host disagree; only user-facing errors come back.
func TestPropNoTwoPluggedDevicesShareAnAddress(t *testing.T) {
	v := propEnv(t)
	ifaces := []model.DiskInterface{model.InterfaceVirtIOSCSI, model.InterfaceVirtIOSCSI, model.InterfaceVirtIOSCSI,
		model.InterfaceVirtIOSCSI, model.InterfaceVirtIOSCSI, model.InterfaceVirtIO, model.InterfaceVirtIO, model.InterfaceIDE}
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(newPropMachine(t, v, ifaces).actions())
	})
}

// TestPropAddressStableAcrossReplug: with virtio-scsi disks only and plugs
// and unplugs drawn most, a disk that is unplugged and plugged again gets
// its address back whenever no plugged device holds it, and its device row
// keeps that address while it is unplugged.
func TestPropAddressStableAcrossReplug(t *testing.T) {
	fewerChecks(t, 50) // the first property checks this on every plug too
	v := propEnv(t)
	rapid.Check(t, func(t *rapid.T) {
		m := newPropMachine(t, v, []model.DiskInterface{model.InterfaceVirtIOSCSI})
		all := m.actions()
		actions := map[string]func(*rapid.T){"": all[""]}
		for _, k := range []string{"attachNew", "attachFloating", "detach", "ioThreads", "cdrom", "run", "stop", "hostFault"} {
			actions[k] = all[k]
		}
		for i := range 3 { // weigh plugging
			actions[fmt.Sprint("plug", i)] = all["plug"]
			actions[fmt.Sprint("unplug", i)] = all["unplug"]
		}
		t.Repeat(actions)
	})
}
