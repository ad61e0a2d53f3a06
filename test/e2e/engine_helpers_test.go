package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/testguest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

func TestMain(m *testing.M) { sqltest.Main(m) }

// engineVM creates a direct-boot test guest VM through the API.
func engineVM(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, virtioSCSI bool) ovirt.VM {
	t.Helper()
	img := e2eutil.Guest(t)
	in := ovirt.VM{
		Name: ovirt.Str(e2eutil.UniqueName(t)), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}, Memory: ovirt.I(384 << 20),
		OS:         &ovirt.OS{Type: ovirt.Str("debian"), Kernel: &img.Kernel, Initrd: &img.Initrd, Cmdline: &img.Cmdline},
		VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(virtioSCSI)},
	}
	var out ovirt.VM
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms", in, &out)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, _ = e.Do(ctx, "POST", "/vms/"+out.ID+"/stop", ovirt.Action{}, nil)
	})
	return out
}

// newDiskAttachment is the body that creates and attaches an image disk.
func newDiskAttachment(e *e2eutil.EngineProc, name, iface string, sizeMiB int64, active bool) ovirt.DiskAttachment {
	return ovirt.DiskAttachment{
		Interface: ovirt.Str(iface), Active: ovirt.B(active), Bootable: ovirt.B(false),
		Disk: &ovirt.Disk{Name: ovirt.Str(name), Format: ovirt.Str("cow"), ProvisionedSize: ovirt.I(sizeMiB << 20),
			StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{Name: ovirt.Str("local")}}}},
	}
}

func addDisk(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID, name, iface string, active bool) ovirt.DiskAttachment {
	t.Helper()
	var out ovirt.DiskAttachment
	e.MustDo(ctx, t, http.StatusCreated, "POST", "/vms/"+vmID+"/diskattachments", newDiskAttachment(e, name, iface, 16, active), &out)
	return out
}

func attachments(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string) []ovirt.DiskAttachment {
	t.Helper()
	var out ovirt.DiskAttachments
	e.MustDo(ctx, t, http.StatusOK, "GET", "/vms/"+vmID+"/diskattachments", nil, &out)
	return out.DiskAttachments
}

// checkGuestSeesAtLiveAddresses asserts that for each disk id the guest's
// H:C:T:L is the drive address in the running domain (SAM flat LUNs above
// 255), read back through the local agent.
func checkGuestSeesAtLiveAddresses(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string, ids []string, inv testguest.Inventory) {
	t.Helper()
	checkGuestSeesAtLiveAddressesOn(ctx, t, e.Agent(ctx, t), vmID, ids, inv)
}

// checkGuestSeesAtLiveAddressesOn is checkGuestSeesAtLiveAddresses with the
// domain read back through the agent c.
func checkGuestSeesAtLiveAddressesOn(ctx context.Context, t *testing.T, c *agentrpc.Client, vmID string, ids []string, inv testguest.Inventory) {
	t.Helper()
	live, err := c.LiveVM(ctx, vmID)
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]scsi.DriveAddress{}
	for _, d := range live.Devices {
		if d.Address != nil {
			addrs[strings.TrimPrefix(d.Alias, "ua-")] = *d.Address
		}
	}
	seen := map[scsi.DriveAddress]string{}
	for _, id := range ids {
		a, ok := addrs[id]
		if !ok {
			t.Errorf("disk %s has no drive address in the running domain", id)
			continue
		}
		if other, dup := seen[a]; dup {
			t.Errorf("disks %s and %s share %v", id, other, a)
		}
		seen[a] = id
		g, ok := findBySerial(inv, id)
		if !ok {
			t.Errorf("guest does not see disk %s", id)
			continue
		}
		if g.Channel != int(a.Bus) || g.Target != int(a.Target) || g.LUN != int(scsi.GuestLUN(a.Unit)) {
			t.Errorf("disk %s: guest sees %s, libvirt was given %v", id, g.HCTL, a)
		}
	}
}

// waitLogicalNames waits until every active attachment of the VM has the
// logical name the guest kernel gave its disk.
func waitLogicalNames(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string, inv testguest.Inventory) {
	t.Helper()
	for {
		var missing []string
		for _, a := range attachments(ctx, t, e, vmID) {
			if a.Active == nil || !bool(*a.Active) {
				continue
			}
			g, ok := findBySerial(inv, a.ID)
			want := ""
			if ok {
				want = "/dev/" + g.Name
			}
			if a.LogicalName == nil || *a.LogicalName != want {
				got := "<none>"
				if a.LogicalName != nil {
					got = *a.LogicalName
				}
				missing = append(missing, fmt.Sprintf("%s: %s (want %s)", a.ID, got, want))
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("logical names never matched the guest:\n%s", strings.Join(missing, "\n"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func startVM(ctx context.Context, t *testing.T, e *e2eutil.EngineProc, vmID string) {
	t.Helper()
	var out ovirt.Action
	e.MustDo(ctx, t, http.StatusOK, "POST", "/vms/"+vmID+"/start", ovirt.Action{}, &out)
	if out.VM == nil || out.VM.Status == nil || *out.VM.Status != "up" {
		t.Fatalf("start: %+v", out)
	}
}
