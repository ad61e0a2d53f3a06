package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

func TestCLILoginLogout(t *testing.T) {
	e := newCLIEngine(t, false)
	e.fails("not logged in", "vm", "list", "--url", e.url)
	e.fails("no engine", "vm", "list")
	if _, err := e.login("admin@internal", "wrong"); err == nil || !strings.Contains(err.Error(), "Cannot authenticate user") {
		t.Errorf("wrong password: %v", err)
	}
	out, err := e.login("admin@internal", cliAdminPassword)
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	contains(t, out, "Logged in to "+e.url+" as admin@internal")
	p := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "govirt", "session.json")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	var s session
	if err := json.Unmarshal(b, &s); err != nil || s.URL != e.url || s.Token == "" || s.Expires.IsZero() {
		t.Errorf("session file %s: %v", b, err)
	}
	if got := e.jsonList("vm", "list"); len(got) != 0 {
		t.Errorf("vm list: %v", got)
	}
	// The token goes with --token or GOVIRT_TOKEN, and not to another URL.
	e.must("vm", "list", "--url", e.url, "--token", s.Token)
	t.Setenv("GOVIRT_TOKEN", s.Token)
	e.must("vm", "list", "--url", e.url+"/ovirt-engine/api/")
	t.Setenv("GOVIRT_TOKEN", "")
	t.Setenv("GOVIRT_URL", "http://127.0.0.1:1")
	e.fails("not logged in to http://127.0.0.1:1", "vm", "list")
	t.Setenv("GOVIRT_URL", "")

	contains(t, e.must("logout"), "Logged out of "+e.url)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("session file after logout: %v", err)
	}
	e.fails("run `govirt login`", "vm", "list", "--url", e.url, "--token", s.Token)
}

func TestCLIVMs(t *testing.T) {
	e := newCLIEngine(t, false)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	out := e.must("vm", "add", "--name", "web1", "--os", "debian", "--memory", "1GiB", "--vcpus", "2", "--io-threads", "2", "--virtio-scsi")
	contains(t, out, "NAME", "web1", "1 GiB")
	e.must("vm", "add", "--name", "db1", "--cluster", "Default", "--virtio-scsi=false", "--kernel", "/boot/vmlinuz", "--cmdline", "console=ttyS0")

	out = e.must("vm", "list")
	contains(t, out, "NAME  STATUS  HOST  OS      VIRTIO-SCSI  DISKS  MEMORY", "web1  down    -     debian  yes          0      1 GiB")
	aligned(t, out, "VIRTIO-SCSI", "db1 ", "no")
	vms := e.jsonList("vm", "list", "--search", "name=web*")
	if len(vms) != 1 || vms[0]["name"] != "web1" || vms[0]["status"] != "down" {
		t.Fatalf("vm list --search name=web* -o json: %v", vms)
	}
	id := vms[0]["id"].(string)

	out = e.must("vm", "show", "web1")
	contains(t, out, "Name:", "web1", "ID:           "+id, "vCPUs:        2", "I/O threads:  2", "VirtIO-SCSI:  yes", "Cluster:      Default", "Disks:        0")
	var vm map[string]any
	if err := json.Unmarshal([]byte(e.must("vm", "show", id, "-o", "json")), &vm); err != nil || vm["name"] != "web1" {
		t.Errorf("vm show ID -o json: %v %v", vm, err)
	}
	contains(t, e.must("vm", "show", "db1"), "Kernel:", "/boot/vmlinuz", "Cmdline:", "console=ttyS0", "VirtIO-SCSI:  no")

	// No host is up: start prints the engine's fault and fails.
	e.fails("Operation Failed: [Cannot run VM. There is no host in status up in the VM's cluster.] (HTTP 409)", "vm", "start", "web1")
	e.fails("[Cannot stop VM. VM is not running.]", "vm", "stop", "web1")
	e.fails("[Cannot shutdown VM. VM is not running.]", "vm", "shutdown", id)
	e.fails(`no VM named "nosuch"`, "vm", "show", "nosuch")
	e.fails("Entity not found: cluster Nope", "vm", "add", "--name", "x", "--cluster", "Nope")
	e.fails("--memory", "vm", "add", "--name", "x", "--memory", "lots")
	e.fails("[Cannot add Virtual Disk. There is no host in status up in the VM's cluster.]", "disk", "add", "--name", "d", "--size", "1G", "--storage-domain", "local")
	e.fails("neither table nor json", "vm", "list", "-o", "yaml")
}

func TestCLIDisks(t *testing.T) {
	e := newCLIEngine(t, true)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	e.must("vm", "add", "--name", "web1", "--os", "debian")
	out := e.must("disk", "add", "--name", "lun1", "--lun-address", "127.0.0.1", "--lun-target", "iqn.2026-11.dev.govirt:t1", "--lun", "1", "--sgio", "filtered")
	contains(t, out, "lun1", "lun", "iscsi://127.0.0.1:3260/iqn.2026-11.dev.govirt:t1/1", "filtered")
	out = e.must("disk", "add", "--name", "img1", "--size", "1GiB", "--storage-domain", "local", "--format", "cow")
	contains(t, out, "img1", "image", "1 GiB", "cow", "local")
	e.fails("needs --lun-address, --lun-target and --lun", "disk", "add", "--name", "x", "--lun-address", "127.0.0.1")
	e.fails("needs --size and --storage-domain", "disk", "add", "--name", "x")

	out = e.must("disk", "list")
	aligned(t, out, "TYPE", "img1", "image")
	aligned(t, out, "TYPE", "lun1", "lun")
	if disks := e.jsonList("disk", "list", "--search", "name=lun*"); len(disks) != 1 || disks[0]["alias"] != "lun1" {
		t.Errorf("disk list --search: %v", disks)
	}

	out = e.must("disk", "attach", "web1", "lun1", "--interface", "virtio_scsi")
	contains(t, out, "DISK  INTERFACE    ACTIVE  BOOTABLE", "lun1  virtio_scsi  yes     no")
	contains(t, e.must("disk", "deactivate", "web1", "lun1"), "lun1  virtio_scsi  no")
	if atts := e.jsonList("disk", "list", "--vm", "web1"); len(atts) != 1 || atts[0]["active"] != "false" {
		t.Errorf("after deactivate: %v", atts)
	}
	contains(t, e.must("disk", "activate", "web1", "lun1"), "lun1  virtio_scsi  yes")
	contains(t, e.must("vm", "show", "web1"), "Disks:        1", "lun1  virtio_scsi  yes")
	contains(t, e.must("disk", "detach", "web1", "lun1"), "Detached disk lun1 from VM web1.")
	if atts := e.jsonList("disk", "list", "--vm", "web1"); len(atts) != 0 {
		t.Errorf("after detach: %v", atts)
	}
	contains(t, e.must("disk", "list"), "lun1")

	// A new disk attached at once, then detached and removed.
	out = e.must("disk", "add", "--name", "boot", "--size", "2GiB", "--storage-domain", "local", "--vm", "web1", "--bootable", "--inactive")
	contains(t, out, "boot  virtio_scsi  no      yes       image  2 GiB")
	contains(t, e.must("disk", "detach", "web1", "boot", "--remove"), "Detached and removed disk boot")
	if strings.Contains(e.must("disk", "list"), "boot") {
		t.Error("disk boot survived detach --remove")
	}
	e.fails(`no disk named "nosuch"`, "disk", "attach", "web1", "nosuch")
}

func TestCLIRolesAndPermissions(t *testing.T) {
	e := newCLIEngine(t, false)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	e.addUser("bob")
	e.must("vm", "add", "--name", "web1")

	out := e.must("role", "add", "--name", "VMRunner", "--permit", "run_vm,stop_vm", "--permit", "login", "--description", "runs VMs")
	contains(t, out, "VMRunner", "runs VMs")
	out = e.must("role", "list")
	contains(t, out, "NAME", "SuperUser", "VMRunner")
	aligned(t, out, "MUTABLE", "VMRunner", "yes")
	aligned(t, out, "MUTABLE", "SuperUser ", "no")
	contains(t, e.must("role", "show", "VMRunner"), "PERMIT", "run_vm", "stop_vm", "login")
	e.fails("Unknown permit no_such_thing", "role", "add", "--name", "Bad", "--permit", "no_such_thing")

	out = e.must("permission", "add", "--user", "bob@internal", "--role", "VMRunner", "--vm", "web1")
	contains(t, out, "ROLE      USER          OBJECT", "VMRunner  bob@internal  vm web1")
	perms := e.jsonList("permission", "list", "--vm", "web1")
	if len(perms) != 1 || perms[0]["id"] == nil {
		t.Fatalf("permission list --vm web1 -o json: %v", perms)
	}
	permID := perms[0]["id"].(string)
	contains(t, e.must("permission", "list", "--vm", "web1"), "VMRunner  bob@internal  vm web1  "+permID)
	contains(t, e.must("permission", "list", "--system"), "SuperUser", "admin@internal", "system")
	e.fails("Entity not found: user nobody@internal", "permission", "add", "--user", "nobody@internal", "--role", "UserRole", "--vm", "web1")
	e.fails("give one of", "permission", "list", "--vm", "web1", "--system")
	e.fails("VMRunner is granted in 1 permissions", "role", "remove", "VMRunner")

	contains(t, e.must("permission", "remove", permID, "--vm", "web1"), "Removed permission "+permID+" on vm web1.")
	if strings.Contains(e.must("permission", "list", "--vm", "web1"), "VMRunner") {
		t.Error("permission survived remove")
	}
	contains(t, e.must("role", "remove", "VMRunner"), "Removed role VMRunner.")
}

// TestCLIFormats covers the size parser and the table printer alone.
func TestCLIFormats(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512M": 512 << 20, "1.5G": 3 << 29, "1000000": 1e6, "2 GB": 2e9} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1G", "G", "1X"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	for n, want := range map[int64]string{1 << 30: "1 GiB", 3 << 29: "1.5 GiB", 512 << 20: "512 MiB", 100: "100 B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
	var b strings.Builder
	tb := &table{head: []string{"A", "LONGER"}}
	tb.add("xxxx", "")
	tb.next = &table{}
	tb.next.add("Key:", "v")
	if err := tb.print(&b); err != nil {
		t.Fatal(err)
	}
	if want := "A     LONGER\nxxxx  -\n\nKey:  v\n"; b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

// TestCLIVMStartStop: with an up host, start and stop wait for the status
// they want; the wait polls the VM, gives up after --timeout, and fails
// when a starting VM goes down.
func TestCLIVMStartStop(t *testing.T) {
	e := newCLIEngine(t, true)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	e.must("vm", "add", "--name", "web1")
	e.must("vm", "add", "--name", "broken")
	contains(t, e.must("vm", "start", "web1"), "VM web1 is up")
	contains(t, e.must("vm", "list"), "web1    up      h1")
	e.fails("[Cannot run VM. VM is running.]", "vm", "start", "web1")
	e.fails("[Cannot run VM. The host failed: libvirt: out of memory]", "vm", "start", "broken")

	s, err := loadSession()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(s.URL, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := c.ListVMs(context.Background(), "name=web1")
	if err != nil || len(vms) != 1 {
		t.Fatal(vms, err)
	}
	defer func(d time.Duration) { pollInterval = d }(pollInterval)
	pollInterval = 10 * time.Millisecond
	ctx := context.Background()
	stale := vms[0]
	stale.Status = ovirt.Str("wait_for_launch")
	if vm, err := waitForStatus(ctx, c, stale, "up", time.Second, &progress{}); err != nil || cell(vm.Status) != "up" {
		t.Errorf("wait for up: %v %v", cell(vm.Status), err)
	}
	if _, err := waitForStatus(ctx, c, stale, "down", 50*time.Millisecond, &progress{}); err == nil || err.Error() != "VM web1 is still up after 50ms" {
		t.Errorf("wait for down: %v", err)
	}

	var vm map[string]any
	if err := json.Unmarshal([]byte(e.must("vm", "stop", "web1", "-o", "json")), &vm); err != nil || vm["status"] != "down" {
		t.Errorf("vm stop -o json: %v %v", vm, err)
	}
	if _, err := waitForStatus(ctx, c, stale, "up", time.Second, &progress{}); err == nil || !strings.Contains(err.Error(), "went down while starting") {
		t.Errorf("wait for up after stop: %v", err)
	}
}

func TestCLIHosts(t *testing.T) {
	e := newCLIEngine(t, false)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "bootstrap-secret")
	if err := os.WriteFile(secret, []byte("ABCD-EFGH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fails("--secret and --secret-file exclude each other", "host", "add", "--name", "n1", "--address", "node1.example", "--secret", "x", "--secret-file", secret)
	out := e.must("host", "add", "--name", "n1", "--address", "node1.example", "--port", "5000", "--secret-file", secret)
	contains(t, out, "node1.example")
	contains(t, out, "5000")
	hosts := e.jsonList("host", "list")
	if len(hosts) != 1 || hosts[0]["name"] != "n1" {
		t.Fatalf("host list: %v", hosts)
	}
	e.fails("not a TCP port", "host", "add", "--name", "n2", "--address", "node2.example", "--port", "99999")
	contains(t, e.must("host", "remove", "n1"), "Removed host n1.")
	if hosts := e.jsonList("host", "list"); len(hosts) != 0 {
		t.Errorf("after remove: %v", hosts)
	}
}

func TestCLISCSIPolicies(t *testing.T) {
	e := newCLIEngine(t, false)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	contains(t, e.must("scsi-policy", "add", "wb", "--allow", "write-buffer", "--deny", "format-unit"), "write-buffer")
	e.fails("frobnicate", "scsi-policy", "add", "odd", "--allow", "frobnicate")
	names := map[string]bool{}
	for _, p := range e.jsonList("scsi-policy", "list") {
		names[p["name"].(string)] = true
	}
	if !names["filtered"] || !names["unfiltered"] || !names["wb"] {
		t.Fatalf("scsi-policy list: %v", names)
	}
	e.must("disk", "add", "--name", "lun9", "--lun-address", "127.0.0.1", "--lun-target", "iqn.2026-11.dev.govirt:t9", "--lun", "9", "--scsi-policy", "wb")
	e.fails("Disks use the policy: lun9", "scsi-policy", "remove", "wb")
	contains(t, e.must("scsi-policy", "set", "lun9", "filtered"), "held to SCSI policy filtered")
	contains(t, e.must("scsi-policy", "remove", "wb"), "Removed SCSI policy wb.")
	e.fails("for LUN disks", "disk", "add", "--name", "img", "--size", "1GiB", "--storage-domain", "sd", "--scsi-policy", "wb")
}

// TestCLIVMMigrate: `vm migrate` moves a running VM to the named host or
// to the engine's pick, and reports the engine's refusals.
func TestCLIVMMigrate(t *testing.T) {
	e := newCLIEngine(t, true)
	if _, err := e.login("admin@internal", cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	e.must("vm", "add", "--name", "web1")
	e.fails("[Cannot migrate VM. VM is not running.]", "vm", "migrate", "web1")
	e.must("vm", "start", "web1")
	e.fails("[Cannot migrate VM. No other host in status up in the VM's cluster can take it.]", "vm", "migrate", "web1")
	ctx := context.Background()
	if err := e.st.Tx(ctx, func(tx store.Tx) error {
		hs, err := tx.ListHosts(ctx, store.ListOptions{Name: "h1"})
		if err != nil || len(hs) != 1 {
			return fmt.Errorf("h1: %v %v", hs, err)
		}
		return tx.InsertHost(ctx, model.Host{ID: "6c1d0e2a-5b1f-4a57-9c7e-2f3d4e5f6a7b", Name: "h2", Address: "h2:54321", ClusterID: hs[0].ClusterID, Status: model.HostUp})
	}); err != nil {
		t.Fatal(err)
	}
	e.fails("[Cannot migrate VM. source and destination is the same.]", "vm", "migrate", "web1", "--host", "h1")
	contains(t, e.must("vm", "migrate", "web1", "--host", "h2"), "VM web1 is up on host h2")
	contains(t, e.must("vm", "list"), "web1  up      h2")
	contains(t, e.must("vm", "migrate", "web1"), "VM web1 is up on host h1")
}
