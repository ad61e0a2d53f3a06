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

// TestLiveMigrationBetweenHosts: a VM with VirtIO-SCSI image disks (one
// hot-plugged) and a filtered iSCSI LUN migrates live from the engine's
// local host (the system libvirtd) to a second enrolled host, whose agent
// drives another libvirtd, and back, through the REST API. The guest never
// reboots (its inventory sequence continues, it prints no second READY),
// sees every disk at its address, sees a disk hot-plugged after the
// migration, and its LUN still refuses PERSISTENT RESERVE OUT through the
// destination's proxy. A VM whose LUN uses SCSI reservation is refused
// with 409 and stays where it runs.
func TestLiveMigrationBetweenHosts(t *testing.T) {
	t.Parallel()
	ctx := e2eutil.Context(t, 12*time.Minute)
	peer := e2eutil.NeedPeerLibvirt(t)
	tg := e2eutil.NewISCSITarget(t, 2, 64)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{MigrationURI: peer.SystemRelayURI(t)})
	ra := e2eutil.StartRemoteAgentWith(t, e2eutil.RemoteAgentOptions{LibvirtSocket: peer.Socket, LibvirtURI: "qemu:///session", MigrationURI: peer.URI})
	var hostB ovirt.Host
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/hosts", ovirt.Host{Name: ovirt.Str("peer"), Address: ovirt.Str(ra.Host), Port: ovirt.Str(ra.Port),
		RootPassword: ovirt.Str(ra.Secret(t)), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}}, &hostB)
	var hs ovirt.Hosts
	e.MustDo(ctx, t, http.StatusOK, "GET", "/hosts?search=name%3Dlocal", nil, &hs)
	if len(hs.Hosts) != 1 {
		t.Fatalf("local host: %+v", hs.Hosts)
	}
	hostA := hs.Hosts[0].ID
	peer.GrantPeer(t, filepath.Join(ra.StateDir, "console"))
	b := dialRemoteAgent(ctx, t, e, ra)
	grant := func(ids ...string) {
		for _, id := range ids {
			peer.GrantPeer(t, filepath.Join(e.StorageDir(), id))
		}
	}

	vm := engineVM(ctx, t, e, true)
	name := *vm.Name
	d1 := addDisk(ctx, t, e, vm.ID, "m1", "virtio_scsi", true)
	d2 := addDisk(ctx, t, e, vm.ID, "m2", "virtio_scsi", true)
	var lun ovirt.DiskAttachment
	lunBody := lunDisk(tg, 1, "mlun", "filtered", false)
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vm.ID+"/diskattachments",
		ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), Disk: &lunBody}, &lun)
	lunSerial := tg.Serials[1]
	grant(d1.ID, d2.ID)
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vm.ID+"/start", ovirt.Action{VM: &ovirt.VM{
		PlacementPolicy: &ovirt.PlacementPolicy{Hosts: &ovirt.HostRefs{Hosts: []ovirt.Ref{{ID: hostA}}}}}}, nil)
	d3 := addDisk(ctx, t, e, vm.ID, "m3", "virtio_scsi", true) // hot-plugged on A
	grant(d3.ID)
	images := []string{d1.ID, d2.ID, d3.ID}
	withLUN := func(inv testguest.Inventory) bool { _, ok := inv.BySerial(lunSerial); return ok && hasAll(images)(inv) }
	invA, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), withLUN)
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, images, invA)
	if !systemRuns(ctx, name) {
		t.Fatal("the VM does not run in the system libvirtd")
	}

	// A -> B, named by the API.
	migrate(ctx, t, e, vm.ID, &ovirt.Ref{Name: ovirt.Str("peer")}, hostB.ID)
	if systemRuns(ctx, name) || !peerRuns(ctx, peer, name) {
		t.Fatalf("after migrating to B: system libvirtd runs it %v, peer libvirtd %v", systemRuns(ctx, name), peerRuns(ctx, peer, name))
	}
	if stats, err := e.Agent(ctx, t).SCSIPolicyStats(ctx, vm.ID); err != nil || len(stats) != 0 {
		t.Errorf("A keeps a LUN proxy for the migrated VM: %v %v", stats, err)
	}
	checkGuestSeesAtLiveAddressesOn(ctx, t, b, vm.ID, images, invA)
	// A disk hot-plugged on B (its volume made reachable first).
	d4 := addDisk(ctx, t, e, vm.ID, "m4", "virtio_scsi", false)
	grant(d4.ID)
	e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+d4.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
	images = append(images, d4.ID)
	invB, err := testguest.WaitInventory(ctx, ra.ConsolePath(vm.ID), withLUN)
	if err != nil {
		t.Fatal(err)
	}
	if invB.Seq != invA.Seq+1 {
		t.Errorf("the guest's inventory went from seq %d on A to %d on B: it restarted", invA.Seq, invB.Seq)
	}
	if con, _ := os.ReadFile(ra.ConsolePath(vm.ID)); strings.Contains(string(con), "GOVIRT-READY") {
		t.Error("the guest booted again on B")
	}
	checkGuestSeesAtLiveAddressesOn(ctx, t, b, vm.ID, images, invB)
	// The LUN is held to its policy by B's proxy now.
	g, _ := invB.BySerial(lunSerial)
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
	if invA2.Seq != invB.Seq+1 {
		t.Errorf("the guest's inventory went from seq %d on B to %d on A: it restarted", invB.Seq, invA2.Seq)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, images, invA2)

	// A LUN that uses SCSI reservation pins the VM to its host.
	pr := lunDisk(tg, 2, "prlun", "unfiltered", false)
	pr.SCSIPolicy = &ovirt.Ref{Name: ovirt.Str("reservations")}
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vm.ID+"/diskattachments",
		ovirt.DiskAttachment{Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), UsesSCSIReservation: ovirt.B(true), Disk: &pr}, nil)
	domID := virsh(ctx, t, "domid", name)
	st, raw, err := e.Do(ctx, "POST", "/vms/"+vm.ID+"/migrate", ovirt.Action{Host: &ovirt.Ref{ID: hostB.ID}}, nil)
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
