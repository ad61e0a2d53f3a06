// Command demo is govirt's main job on one machine: through the REST API of
// a running engine with a local host it creates a VM with VirtIO-SCSI and
// three disks, boots the test guest, hot-plugs a fourth disk and prints what
// the guest reports next to what govirt assigned. scripts/demo.sh starts
// the engine and runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/testguest"
)

type client struct {
	base, token string
}

func main() {
	api := flag.String("url", "http://127.0.0.1:8080", "engine URL")
	state := flag.String("state-dir", "/var/lib/govirt", "the engine's --state-dir")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *api, *state, os.Getenv("GOVIRT_ADMIN_PASSWORD")); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := xml.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/ovirt-engine/api"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s\n%s", method, path, resp.Status, raw)
	}
	if out != nil {
		return xml.Unmarshal(raw, out)
	}
	return nil
}

func login(base, password string) (*client, error) {
	resp, err := http.PostForm(base+"/ovirt-engine/sso/oauth/token", url.Values{"grant_type": {"password"},
		"username": {"admin@internal"}, "password": {password}, "scope": {"ovirt-app-api"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("login as admin@internal failed (%s)", resp.Status)
	}
	return &client{base: base, token: tok.AccessToken}, nil
}

func run(ctx context.Context, base, state, password string) error {
	img, err := testguest.Build(ctx, testguest.BuildOptions{CacheDir: testguest.DefaultCacheDir(), Logger: slog.Default()})
	if err != nil {
		return err
	}
	c, err := login(base, password)
	if err != nil {
		return err
	}
	var vm ovirt.VM
	name := fmt.Sprintf("demo-%d", time.Now().Unix())
	if err := c.do(ctx, "POST", "/vms", ovirt.VM{Name: &name, Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}, Memory: ovirt.I(384 << 20),
		OS:         &ovirt.OS{Type: ovirt.Str("debian"), Kernel: &img.Kernel, Initrd: &img.Initrd, Cmdline: &img.Cmdline},
		VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(true)}}, &vm); err != nil {
		return err
	}
	fmt.Printf("created VM %s (%s) with VirtIO-SCSI\n", name, vm.ID)
	console := filepath.Join(state, "agent", "console", vm.ID+".log")
	var ids []string
	for i := 0; i < 4; i++ {
		if i == 3 {
			if _, err := testguest.WaitInventory(ctx, console, seesAll(ids)); err != nil {
				return err
			}
			fmt.Println("the guest sees 3 disks; hot-plugging a 4th into it...")
		}
		var a ovirt.DiskAttachment
		if err := c.do(ctx, "POST", "/vms/"+vm.ID+"/diskattachments", ovirt.DiskAttachment{
			Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true), Bootable: ovirt.B(i == 0),
			Disk: &ovirt.Disk{Name: ovirt.Str(fmt.Sprintf("%s-disk%d", name, i)), Format: ovirt.Str("cow"), ProvisionedSize: ovirt.I(int64(i+1) << 30),
				StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{Name: ovirt.Str("local")}}}},
		}, &a); err != nil {
			return err
		}
		ids = append(ids, a.ID)
		if i == 2 {
			fmt.Println("starting the VM under", state, "...")
			if err := c.do(ctx, "POST", "/vms/"+vm.ID+"/start", ovirt.Action{}, nil); err != nil {
				return err
			}
		}
	}
	inv, err := testguest.WaitInventory(ctx, console, seesAll(ids))
	if err != nil {
		return err
	}
	return report(ctx, c, state, vm.ID, ids, inv)
}

func seesAll(ids []string) func(testguest.Inventory) bool {
	return func(inv testguest.Inventory) bool {
		for _, id := range ids {
			if _, ok := bySerial(inv, id); !ok {
				return false
			}
		}
		return true
	}
}

func bySerial(inv testguest.Inventory, id string) (testguest.Disk, bool) {
	for _, g := range inv.Disks {
		if len(g.Serial) >= 20 && strings.HasPrefix(id, g.Serial) {
			return g, true
		}
	}
	return testguest.Disk{}, false
}

func report(ctx context.Context, c *client, state, vmID string, ids []string, inv testguest.Inventory) error {
	ag, err := agentrpc.Dial(ctx, "unix://"+filepath.Join(state, "run", "agent.sock"), nil)
	if err != nil {
		return err
	}
	defer ag.Close()
	live, err := ag.LiveVM(ctx, vmID)
	if err != nil {
		return err
	}
	addr := map[string]*scsi.DriveAddress{}
	for _, d := range live.Devices {
		addr[strings.TrimPrefix(d.Alias, "ua-")] = d.Address
	}
	time.Sleep(3 * time.Second) // let the monitor fetch logical names once
	var atts ovirt.DiskAttachments
	if err := c.do(ctx, "GET", "/vms/"+vmID+"/diskattachments", nil, &atts); err != nil {
		return err
	}
	names := map[string]string{}
	for _, a := range atts.DiskAttachments {
		if a.LogicalName != nil {
			names[a.ID] = *a.LogicalName
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nDISK (serial)\tENGINE ADDRESS C:B:T:U\tGUEST SEES H:C:T:L\tGUEST NAME\tLOGICAL NAME (API)\tSIZE")
	for _, id := range ids {
		g, _ := bySerial(inv, id)
		a := addr[id]
		fmt.Fprintf(w, "%s\t%d:%d:%d:%d\t%s\t/dev/%s\t%s\t%d GiB\n", id, a.Controller, a.Bus, a.Target, a.Unit, g.HCTL, g.Name, names[id], g.Size>>30)
	}
	return w.Flush()
}
