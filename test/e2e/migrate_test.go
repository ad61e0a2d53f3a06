package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/pki"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// dialRemoteAgent connects to an enrolled remote agent with the engine's
// own client certificate, to read what the agent sees.
func dialRemoteAgent(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, ra *e2eutil.RemoteAgent) *agentrpc.Client {
	t.Helper()
	dir := filepath.Join(e.StateDir, "pki")
	creds, err := agentrpc.ClientTLS(filepath.Join(dir, "engine.crt"), filepath.Join(dir, "engine.key"), filepath.Join(dir, pki.CACertFile), ra.Host)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentrpc.Dial(ctx, ra.Addr(), creds)
	if err != nil {
		t.Fatalf("dial the remote agent: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// systemRuns tells whether the system libvirtd runs the domain.
func systemRuns(ctx context.Context, name string) bool {
	out, err := exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "domstate", name).CombinedOutput()
	return err == nil && strings.TrimSpace(string(out)) == "running"
}

// peerRuns tells whether the peer libvirtd runs the domain.
func peerRuns(ctx context.Context, p *e2eutil.PeerLibvirt, name string) bool {
	out, err := p.Virsh(ctx, "domstate", name)
	return err == nil && strings.TrimSpace(out) == "running"
}

// migrate posts the migrate action and checks the VM is up on want.
func migrate(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string, to *ovirt.Ref, want string) {
	t.Helper()
	start := time.Now()
	var out ovirt.Action
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vmID+"/migrate", ovirt.Action{Host: to}, &out)
	t.Logf("migration to %s took %s", want, time.Since(start).Round(time.Millisecond))
	got := getVM(ctx, t, e, vmID)
	if status(got) != "up" || got.Host == nil || got.Host.ID != want {
		t.Fatalf("after migrate: status %s on %+v, want up on %s", status(got), got.Host, want)
	}
}

// migrationRig is an engine whose local host (A) drives the system
// libvirtd and a second enrolled host (B) whose agent drives the session
// libvirtd of govirtpeer, each able to take the other's VMs.
type migrationRig struct {
	ctx          context.Context
	peer         *e2eutil.PeerLibvirt
	tg           *e2eutil.ISCSITarget
	e            *e2eutil.EngineProc
	ra           *e2eutil.RemoteAgent
	hostA, hostB string
	b            *agentrpc.Client // B's agent, for what B sees
}

func newMigrationRig(t *testing.T) *migrationRig {
	t.Helper()
	r := &migrationRig{ctx: e2eutil.Context(t, 12*time.Minute), peer: e2eutil.NeedPeerLibvirt(t)}
	ctx := r.ctx
	r.tg = e2eutil.NewISCSITarget(t, 2, 64)
	r.e = e2eutil.StartEngine(t, e2eutil.EngineOptions{MigrationURI: r.peer.SystemRelayURI(t)})
	r.ra = e2eutil.StartRemoteAgentWith(t, e2eutil.RemoteAgentOptions{LibvirtSocket: r.peer.Socket, LibvirtURI: "qemu:///session", MigrationURI: r.peer.URI})
	var hostB ovirt.Host
	r.e.MustDo(ctx, t, http.StatusCreated, "POST", "/hosts", ovirt.Host{Name: ovirt.Str("peer"), Address: ovirt.Str(r.ra.Host), Port: ovirt.Str(r.ra.Port),
		RootPassword: ovirt.Str(r.ra.Secret(t)), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}}, &hostB)
	r.hostB = hostB.ID
	var hs ovirt.Hosts
	r.e.MustDo(ctx, t, http.StatusOK, "GET", "/hosts?search=name%3Dlocal", nil, &hs)
	if len(hs.Hosts) != 1 {
		t.Fatalf("local host: %+v", hs.Hosts)
	}
	r.hostA = hs.Hosts[0].ID
	r.peer.GrantPeer(t, filepath.Join(r.ra.StateDir, "console"))
	r.b = dialRemoteAgent(ctx, t, r.e, r.ra)
	return r
}

// grant lets B's QEMU open the volumes of these disks.
func (r *migrationRig) grant(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		r.peer.GrantPeer(t, filepath.Join(r.e.StorageDir(), id))
	}
}

// bootOnA starts a VM with image disks (one of them hot-plugged) and the
// filtered LUN 1 on A and returns it with its image disk ids and the
// guest's inventory.
func (r *migrationRig) bootOnA(t *testing.T) (ovirt.VM, []string, ovirt.DiskAttachment, testguest.Inventory) {
	t.Helper()
	ctx, e := r.ctx, r.e
	vm := engineVM(ctx, t, e, true)
	d1 := addDisk(ctx, t, e, vm.ID, "m1", "virtio_scsi", true)
	d2 := addDisk(ctx, t, e, vm.ID, "m2", "virtio_scsi", true)
	var lun ovirt.DiskAttachment
	lunBody := lunDisk(r.tg, 1, "mlun", "filtered", false)
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vm.ID+"/diskattachments",
		ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), Disk: &lunBody}, &lun)
	r.grant(t, d1.ID, d2.ID)
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/start", ovirt.Action{VM: &ovirt.VM{
		PlacementPolicy: &ovirt.PlacementPolicy{Hosts: &ovirt.HostRefs{Hosts: []ovirt.Ref{{ID: r.hostA}}}}}}, nil)
	d3 := addDisk(ctx, t, e, vm.ID, "m3", "virtio_scsi", true) // hot-plugged on A
	r.grant(t, d3.ID)
	images := []string{d1.ID, d2.ID, d3.ID}
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), r.sees(images))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, images, inv)
	if !systemRuns(ctx, *vm.Name) {
		t.Fatal("the VM does not run in the system libvirtd")
	}
	return vm, images, lun, inv
}

// sees is true of an inventory with the image disks and LUN 1.
func (r *migrationRig) sees(images []string) func(testguest.Inventory) bool {
	return func(inv testguest.Inventory) bool {
		_, ok := inv.BySerial(r.tg.Serials[1])
		return ok && hasAll(images)(inv)
	}
}

// vmEvents are the descriptions of the VM's events.
func (r *migrationRig) vmEvents(t *testing.T, vmID string) []string {
	t.Helper()
	var evs ovirt.Events
	r.e.MustDo(r.ctx, t, http.StatusOK, "GET", "/events?max=1000", nil, &evs)
	var out []string
	for _, ev := range evs.Events {
		if ev.VM != nil && ev.VM.ID == vmID && ev.Description != nil {
			out = append(out, *ev.Description)
		}
	}
	return out
}

// TestLiveMigrationBetweenHosts: a VM with VirtIO-SCSI image disks (one
// hot-plugged) and a filtered iSCSI LUN migrates live from the engine's
// local host (the system libvirtd) to a second enrolled host, whose agent
// drives another libvirtd, and back, through the REST API. The guest never
// reboots (its inventory sequence continues, it prints no second READY),
// sees every disk at its address, sees a disk hot-plugged after the
// migration, and its LUN still refuses PERSISTENT RESERVE OUT through the
// destination's proxy; the monitor never took the moving VM for down or
// its disks for unplugged. A VM whose LUN uses SCSI reservation is refused
// with 409 and stays where it runs.
func TestLiveMigrationBetweenHosts(t *testing.T) {
	t.Parallel()
	r := newMigrationRig(t)
	ctx, e, peer, ra, b, tg := r.ctx, r.e, r.peer, r.ra, r.b, r.tg
	hostA := r.hostA
	vm, images, lun, invA := r.bootOnA(t)
	name := *vm.Name
	lunSerial := tg.Serials[1]
	withLUN := func(inv testguest.Inventory) bool { return r.sees(images)(inv) }

	// A migration libvirt fails (B's QEMU may not create its console
	// there): the VM stays up on A, B drops what it prepared.
	console := filepath.Join(ra.StateDir, "console")
	if err := os.Chmod(console, 0o755); err != nil {
		t.Fatal(err)
	}
	st, raw, err := e.Do(ctx, "POST", "/vms/"+vm.ID+"/migrate", ovirt.Action{Host: &ovirt.Ref{ID: r.hostB}}, nil)
	if err != nil || st != http.StatusConflict || !strings.Contains(raw, "Cannot migrate VM. The host failed") {
		t.Fatalf("a migration libvirt fails: %d %v\n%s", st, err, raw)
	}
	if got := getVM(ctx, t, e, vm.ID); status(got) != "up" || got.Host == nil || got.Host.ID != hostA {
		t.Fatalf("after a failed migration: %s on %+v", status(got), got.Host)
	}
	if !systemRuns(ctx, name) || peerRuns(ctx, peer, name) {
		t.Fatal("a failed migration moved the domain")
	}
	if stats, err := b.SCSIPolicyStats(ctx, vm.ID); err != nil || len(stats) != 0 {
		t.Errorf("B keeps a LUN proxy after the failed migration: %v %v", stats, err)
	}
	peer.GrantPeer(t, console)

	// A -> B, named by the API.
	migrate(ctx, t, e, vm.ID, &ovirt.Ref{Name: ovirt.Str("peer")}, r.hostB)
	if systemRuns(ctx, name) || !peerRuns(ctx, peer, name) {
		t.Fatalf("after migrating to B: system libvirtd runs it %v, peer libvirtd %v", systemRuns(ctx, name), peerRuns(ctx, peer, name))
	}
	if stats, err := e.Agent(ctx, t).SCSIPolicyStats(ctx, vm.ID); err != nil || len(stats) != 0 {
		t.Errorf("A keeps a LUN proxy for the migrated VM: %v %v", stats, err)
	}
	checkGuestSeesAtLiveAddressesOn(ctx, t, b, vm.ID, images, invA)
	// A disk hot-plugged on B (its volume made reachable first).
	d4 := addDisk(ctx, t, e, vm.ID, "m4", "virtio_scsi", false)
	r.grant(t, d4.ID)
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+d4.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	images = append(images, d4.ID)
	invB, err := testguest.WaitInventory(ctx, ra.ConsolePath(vm.ID), withLUN)
	if err != nil {
		t.Fatal(err)
	}
	sameBoot(t, invA, invB)
	if con, _ := os.ReadFile(ra.ConsolePath(vm.ID)); strings.Contains(string(con), "GOVIRT-READY") {
		t.Error("the guest booted again on B")
	}
	checkGuestSeesAtLiveAddressesOn(ctx, t, b, vm.ID, images, invB)
	// The LUN is held to its policy by B's proxy now.
	g, _ := invB.BySerial(lunSerial)
	waitGuestAgentOn(ctx, t, b.GuestDisks, vm.ID)
	res, err := b.GuestExec(ctx, vm.ID, "/usr/bin/sg_persist", []string{"--out", "--register", "--param-sark=0x5eed", "/dev/" + g.Name}, nil, time.Minute)
	if err != nil {
		t.Fatalf("guest exec on B: %v", err)
	}
	if out := string(res.Stdout) + string(res.Stderr); res.ExitCode == 0 || !strings.Contains(strings.ToLower(out), "illegal request") {
		t.Errorf("the filtered LUN let the guest register a key after the migration: exit %d: %s", res.ExitCode, out)
	}
	if stats, err := b.SCSIPolicyStats(ctx, vm.ID); err != nil || stats[lun.ID].Refused == 0 {
		t.Errorf("B's proxy refused nothing: %+v %v", stats, err)
	}

	// B -> A, the scheduler's pick.
	migrate(ctx, t, e, vm.ID, nil, hostA)
	if !systemRuns(ctx, name) || peerRuns(ctx, peer, name) {
		t.Fatalf("after migrating back: system libvirtd runs it %v, peer libvirtd %v", systemRuns(ctx, name), peerRuns(ctx, peer, name))
	}
	d5 := addDisk(ctx, t, e, vm.ID, "m5", "virtio_scsi", true)
	images = append(images, d5.ID)
	invA2, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), func(inv testguest.Inventory) bool {
		return inv.Seq > invB.Seq && withLUN(inv)
	})
	if err != nil {
		t.Fatal(err)
	}
	sameBoot(t, invB, invA2)
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, images, invA2)

	// The monitor never took the moving VM for down, found elsewhere, or
	// its disks for unplugged; each migration has its start and end.
	evs := r.vmEvents(t, vm.ID)
	started, done, failed := 0, 0, 0
	for _, ev := range evs {
		switch {
		case strings.HasPrefix(ev, "Migration started"):
			started++
		case strings.HasPrefix(ev, "Migration completed"):
			done++
		case strings.HasPrefix(ev, "Migration failed"):
			failed++
		case strings.Contains(ev, "is down"), strings.Contains(ev, "runs on its host"), strings.Contains(ev, "outside govirt"),
			strings.Contains(ev, "although govirt had it unplugged"), strings.Contains(ev, "Unknown status"):
			t.Errorf("the monitor misread the migration: %q", ev)
		}
	}
	if started != 3 || done != 2 || failed != 1 {
		t.Errorf("migration events: %d started, %d completed, %d failed, want 3, 2 and 1:\n%s", started, done, failed, strings.Join(evs, "\n"))
	}

	// A LUN that uses SCSI reservation pins the VM to its host.
	pr := lunDisk(tg, 2, "prlun", "unfiltered", false)
	pr.SCSIPolicy = &ovirt.Ref{Name: ovirt.Str("reservations")}
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vm.ID+"/diskattachments",
		ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), UsesSCSIReservation: ovirt.B(true), Disk: &pr}, nil)
	domID := virsh(ctx, t, "domid", name)
	st, raw, err = e.Do(ctx, "POST", "/vms/"+vm.ID+"/migrate", ovirt.Action{Host: &ovirt.Ref{ID: r.hostB}}, nil)
	if err != nil || st != http.StatusConflict || !strings.Contains(raw, "Cannot migrate VM. The VM uses SCSI reservation.") {
		t.Fatalf("migrating a VM using SCSI reservation: %d %v\n%s", st, err, raw)
	}
	if got := getVM(ctx, t, e, vm.ID); status(got) != "up" || got.Host == nil || got.Host.ID != hostA {
		t.Fatalf("after the refusal: %s on %+v", status(got), got.Host)
	}
	if virsh(ctx, t, "domid", name) != domID || peerRuns(ctx, peer, name) {
		t.Fatal("a refused migration touched the domain")
	}
}

// TestEngineKilledDuringLiveMigration: the engine (with host A's agent in
// its process) is killed while a VM migrates from A to B. libvirt finishes
// or abandons the migration on its own; the restarted engine learns from
// both hosts' reports where the VM runs, records it up there, and the VM
// is then usable (a disk hot-plugs into it where it runs).
func TestEngineKilledDuringLiveMigration(t *testing.T) {
	t.Parallel()
	r := newMigrationRig(t)
	ctx, e := r.ctx, r.e
	vm, images, _, inv := r.bootOnA(t)
	name := *vm.Name

	posted := make(chan struct{})
	go func() {
		defer close(posted)
		// Fails when the engine dies under it.
		_, _, _ = e.Do(ctx, "POST", "/vms/"+vm.ID+"/migrate", ovirt.Action{Host: &ovirt.Ref{ID: r.hostB}}, nil)
	}()
	waitFor(ctx, t, "VM migrating", func() ovirt.VM { return getVM(ctx, t, e, vm.ID) },
		func(v ovirt.VM) bool { return status(v) == "migrating" })
	e.Kill(t)
	<-posted
	e.Restart(t)

	got := waitFor(ctx, t, "VM up after the interrupted migration", func() ovirt.VM { return getVM(ctx, t, e, vm.ID) },
		func(v ovirt.VM) bool { return status(v) == "up" })
	onA, onB := systemRuns(ctx, name), peerRuns(ctx, r.peer, name)
	switch {
	case onA == onB:
		t.Fatalf("after the interrupted migration the system libvirtd runs the VM %v, the peer %v", onA, onB)
	case got.Host == nil || onA && got.Host.ID != r.hostA || onB && got.Host.ID != r.hostB:
		t.Fatalf("the API has the VM on %+v; the system libvirtd runs it %v, the peer %v", got.Host, onA, onB)
	}
	t.Logf("the interrupted migration ended on host A %v, B %v", onA, onB)
	console := e.ConsolePath(vm.ID)
	if onB {
		console = r.ra.ConsolePath(vm.ID)
	}
	d4 := addDisk(ctx, t, e, vm.ID, "m4", "virtio_scsi", false)
	r.grant(t, d4.ID)
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+d4.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	images = append(images, d4.ID)
	after, err := testguest.WaitInventory(ctx, console, func(i testguest.Inventory) bool { return i.Seq > inv.Seq && r.sees(images)(i) })
	if err != nil {
		t.Fatal(err)
	}
	sameBoot(t, inv, after)
}

// TestLiveMigrationAfterPCIHotPlugs: devices that took their PCI slot when
// they were hot-plugged (the virtio-scsi controller of a VM that booted
// without SCSI disks, a virtio-blk disk) keep it on the destination, so
// libvirt's ABI check lets the VM move, and the guest keeps its disks.
func TestLiveMigrationAfterPCIHotPlugs(t *testing.T) {
	t.Parallel()
	r := newMigrationRig(t)
	ctx, e := r.ctx, r.e
	vm := engineVM(ctx, t, e, true)
	blk1 := addDisk(ctx, t, e, vm.ID, "b1", "virtio", true)
	r.grant(t, blk1.ID)
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/start", ovirt.Action{VM: &ovirt.VM{
		PlacementPolicy: &ovirt.PlacementPolicy{Hosts: &ovirt.HostRefs{Hosts: []ovirt.Ref{{ID: r.hostA}}}}}}, nil)
	if err := testguest.WaitReady(ctx, e.ConsolePath(vm.ID)); err != nil {
		t.Fatal(err)
	}
	s1 := addDisk(ctx, t, e, vm.ID, "s1", "virtio_scsi", false) // its controller is plugged with it
	blk2 := addDisk(ctx, t, e, vm.ID, "b2", "virtio", false)
	r.grant(t, s1.ID, blk2.ID)
	for _, id := range []string{s1.ID, blk2.ID} {
		e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+id, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	}
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+blk1.ID, ovirt.DiskAttachment{Active: ovirt.B(false)}, nil)
	ids := []string{s1.ID, blk2.ID}
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), func(i testguest.Inventory) bool {
		_, gone := findBySerial(i, blk1.ID)
		return hasAll(ids)(i) && !gone
	})
	if err != nil {
		t.Fatal(err)
	}
	migrate(ctx, t, e, vm.ID, &ovirt.Ref{ID: r.hostB}, r.hostB)
	s2 := addDisk(ctx, t, e, vm.ID, "s2", "virtio_scsi", false)
	r.grant(t, s2.ID)
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+s2.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	ids = append(ids, s2.ID)
	after, err := testguest.WaitInventory(ctx, r.ra.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	sameBoot(t, inv, after)
	checkGuestSeesAtLiveAddressesOn(ctx, t, r.b, vm.ID, []string{s1.ID, s2.ID}, after)
}

// sameBoot fails the test when the guest booted again between two
// inventories: a live migration must keep it running. The kernel's boot_id
// tells, not the inventory's sequence (the guest reports any change it sees,
// so two reads may be more than one apart).
func sameBoot(t *testing.T, before, after testguest.Inventory) {
	t.Helper()
	switch {
	case before.Boot == "" || after.Boot == "":
		t.Errorf("the guest's inventory names no boot (seq %d %q, seq %d %q)", before.Seq, before.Boot, after.Seq, after.Boot)
	case before.Boot != after.Boot || after.Seq <= before.Seq:
		t.Errorf("the guest booted again: inventory seq %d of boot %s, then seq %d of boot %s", before.Seq, before.Boot, after.Seq, after.Boot)
	}
}
