package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// TestEngineKilledDuringHotPlugs (SQLite) and ...OnPostgreSQL: the engine is
// SIGKILLed while many clients hot-plug and unplug disks of one running
// guest, in a loop, and restarted each time; every time it converges to
// attachments that match what the guest sees, device rows that match the
// live domain, and no address left reserved for a disk that is not there.
func TestEngineKilledDuringHotPlugs(t *testing.T) {
	t.Parallel()
	crashLoop(t, "")
}

func TestEngineKilledDuringHotPlugsOnPostgreSQL(t *testing.T) {
	t.Parallel()
	crashLoop(t, sqltest.Postgres(t))
}

const (
	crashRounds  = 4
	crashClients = 6
)

func crashLoop(t *testing.T, dsn string) {
	ctx := e2eutil.Context(t, 12*time.Minute)
	e := e2eutil.StartEngine(t, e2eutil.EngineOptions{DB: dsn})
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(e.StateDir, "engine.db")
	}
	st, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	vm := engineVM(ctx, t, e, true)
	base := addDisk(ctx, t, e, vm.ID, "base", "virtio_scsi", true)
	startVM(ctx, t, e, vm.ID)
	if _, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll([]string{base.ID})); err != nil {
		t.Fatal(err)
	}
	domID := virsh(ctx, t, "domid", *vm.Name)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	made := 0
	for round := 1; round <= crashRounds; round++ {
		existing := attachments(ctx, t, e, vm.ID)
		var wg sync.WaitGroup
		for i := 0; i < crashClients; i++ {
			wg.Add(1)
			var toggle *ovirt.DiskAttachment
			if i%2 == 1 && len(existing) > 0 {
				a := existing[rng.IntN(len(existing))]
				toggle = &a
			} else {
				made++
			}
			name := fmt.Sprintf("c%d", made)
			go func() {
				defer wg.Done()
				// Errors are expected: the engine dies under these calls.
				if toggle == nil {
					_, _, _ = e.Do(ctx, "POST", "/vms/"+vm.ID+"/diskattachments", newDiskAttachment(e, name, "virtio_scsi", 8, true), nil)
					return
				}
				active := toggle.Active == nil || !bool(*toggle.Active)
				_, _, _ = e.Do(ctx, "PUT", "/vms/"+vm.ID+"/diskattachments/"+toggle.ID, ovirt.DiskAttachment{Active: ovirt.B(active)}, nil)
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(600)) * time.Millisecond)
		e.Kill(t)
		wg.Wait()
		e.Restart(t)
		waitConverged(ctx, t, e, st, vm.ID, round)
	}
	// Nothing leaked: every attachment the crashes left inactive plugs again,
	// and the guest then sees every disk at its address.
	var ids []string
	for _, a := range attachments(ctx, t, e, vm.ID) {
		ids = append(ids, a.ID)
		if a.Active == nil || !bool(*a.Active) {
			e.MustDo(ctx, t, http.StatusOK, "PUT", "/vms/"+vm.ID+"/diskattachments/"+a.ID, ovirt.DiskAttachment{Active: ovirt.B(true)}, nil)
		}
	}
	inv, err := testguest.WaitInventory(ctx, e.ConsolePath(vm.ID), hasAll(ids))
	if err != nil {
		t.Fatal(err)
	}
	checkGuestSeesAtLiveAddresses(ctx, t, e, vm.ID, ids, inv)
	waitConverged(ctx, t, e, st, vm.ID, crashRounds+1)
	if vmNow := getVM(ctx, t, e, vm.ID); status(vmNow) != "up" {
		t.Errorf("VM is %s after the crashes", status(vmNow))
	}
	if got := virsh(ctx, t, "domid", *vm.Name); got != domID {
		t.Fatalf("domain id %s became %s: a restart touched the guest", domID, got)
	}
	// After all that, a disk detached behind the engine's back is noticed.
	virsh(ctx, t, "detach-device-alias", *vm.Name, "ua-"+base.ID, "--live")
	waitFor(ctx, t, "out-of-band detach noticed", func() ovirt.DiskAttachment {
		var a ovirt.DiskAttachment
		e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vm.ID+"/diskattachments/"+base.ID, nil, &a)
		return a
	}, func(a ovirt.DiskAttachment) bool { return a.Active != nil && !bool(*a.Active) })
	waitConverged(ctx, t, e, st, vm.ID, crashRounds+2)
}

// waitConverged waits until the engine's view of the VM's disks agrees with
// the guest and the live domain, and fails with the last difference.
func waitConverged(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, st store.Store, vmID string, round int) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var diff string
	began := time.Now()
	c := e.Agent(cctx, t)
	for {
		if diff = convergenceDiff(cctx, c, e, st, vmID); diff == "" {
			t.Logf("round %d: converged %.1f s after the engine answered again", round, time.Since(began).Seconds())
			return
		}
		select {
		case <-cctx.Done():
			t.Fatalf("round %d: the engine never converged with the guest:\n%s", round, diff)
		case <-time.After(time.Second):
		}
	}
}

// convergenceDiff lists what disagrees between the API, the database's
// device rows, the live domain and the guest; empty when all agree.
func convergenceDiff(ctx context.Context, c *agentrpc.Client, e *e2eutil.EngineProc, st store.Store, vmID string) string {
	var out []string
	live, err := c.LiveVM(ctx, vmID)
	if err != nil {
		return "live domain: " + err.Error()
	}
	// What the guest kernel sees, from its console: qemu-ga is no witness
	// here (Debian's segfaults now and then in guest-get-disks while disks
	// come and go, and libvirt then waits on it).
	inv, ok, err := testguest.LatestInventory(e.ConsolePath(vmID))
	if err != nil || !ok {
		return fmt.Sprintf("guest inventory: none yet (%v)", err)
	}
	liveAddr := map[string]scsi.DriveAddress{}
	for _, d := range live.Devices {
		if id, ok := strings.CutPrefix(d.Alias, "ua-"); ok && d.Kind == "disk" && id != engine.CDROMID && d.Address != nil {
			liveAddr[id] = *d.Address
		}
	}
	inGuest := func(id string) bool {
		_, ok := findBySerial(inv, id)
		return ok
	}
	var devs []model.VmDevice
	var atts []model.DiskAttachment
	var disks []model.Disk
	if err := st.View(ctx, func(tx store.Tx) error {
		var err error
		if devs, err = tx.ListDevicesOfVM(ctx, vmID); err != nil {
			return err
		}
		if disks, err = tx.ListDisks(ctx, store.ListOptions{}); err != nil {
			return err
		}
		atts, err = tx.ListAttachmentsOfVM(ctx, vmID)
		return err
	}); err != nil {
		return "database: " + err.Error()
	}
	for _, d := range disks {
		if d.Status != model.DiskOK {
			out = append(out, fmt.Sprintf("disk %s (%s) is %s", d.Alias, d.ID, d.Status))
		}
	}
	active := map[string]bool{}
	for _, a := range atts {
		active[a.DiskID] = a.Active
	}
	seen := map[scsi.DriveAddress]string{}
	diskDevs := 0
	for _, d := range devs {
		if d.Type != model.DeviceTypeDisk || d.ID == engine.CDROMID {
			continue
		}
		diskDevs++
		la, isLive := liveAddr[d.ID]
		switch {
		case d.Pending != model.PendingNone:
			out = append(out, fmt.Sprintf("disk %s: %s still pending", d.ID, d.Pending))
		case d.Plugged != active[d.ID]:
			out = append(out, fmt.Sprintf("disk %s: device plugged=%v but attachment active=%v", d.ID, d.Plugged, active[d.ID]))
		case d.Plugged != isLive:
			out = append(out, fmt.Sprintf("disk %s: plugged=%v in the database, in the live domain=%v", d.ID, d.Plugged, isLive))
		case d.Plugged != inGuest(d.ID):
			out = append(out, fmt.Sprintf("disk %s: plugged=%v, guest sees it=%v", d.ID, d.Plugged, inGuest(d.ID)))
		case d.Plugged && (d.Address == nil || *d.Address != la):
			out = append(out, fmt.Sprintf("disk %s: database address %v, live %v", d.ID, d.Address, la))
		}
		if d.Plugged && d.Address != nil {
			if other, dup := seen[*d.Address]; dup {
				out = append(out, fmt.Sprintf("disks %s and %s share %v", d.ID, other, *d.Address))
			}
			seen[*d.Address] = d.ID
		}
	}
	if diskDevs != len(atts) {
		out = append(out, fmt.Sprintf("%d disk device rows for %d attachments", diskDevs, len(atts)))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
