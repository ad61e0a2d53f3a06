package testguest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// Helpers that run the test guest under the host's libvirtd with virsh.

const (
	libvirtURI = "qemu:///system"
	// vmRoot is world-traversable, unlike t.TempDir(): QEMU runs as
	// libvirt-qemu and must reach the disk images.
	vmRoot = "/var/lib/govirt-test"
)

func virsh(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "virsh", append([]string{"-c", libvirtURI}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// requireLibvirt fails the test, never skips it, when libvirtd is missing:
// a boot test that silently does not run hides a broken host.
func requireLibvirt(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("virsh"); err != nil {
		t.Fatalf("virsh is not installed (run scripts/host-setup.sh as root): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := virsh(ctx, "version"); err != nil {
		t.Fatalf("libvirtd is unreachable at %s; start it with scripts/host-setup.sh (as root): %v", libvirtURI, err)
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatalf("qemu-img is not installed (package qemu-utils, see scripts/host-setup.sh): %v", err)
	}
	// libvirt re-probes QEMU on every domain start (a minute or more) when
	// /dev/kvm is not accessible to its group: KVM then looks usable while
	// probing but not when validating the cache.
	if info, err := os.Stat("/dev/kvm"); err == nil && info.Mode().Perm()&0o060 != 0o060 {
		t.Logf("warning: /dev/kvm is %v; libvirt will re-probe QEMU at each start (chmod 0660 /dev/kvm)", info.Mode())
	}
}

// bootDisk is a qcow2 disk given to the guest at boot or by hot-plug.
type bootDisk struct {
	CDROM   bool   // an empty SCSI CD-ROM drive instead of a qcow2 disk
	Bus     string // scsi or virtio
	Dev     string // libvirt target dev
	Target  int    // SCSI target (scsi only)
	Unit    int    // SCSI unit (scsi only)
	Serial  string
	SizeMiB int
	Path    string // set by the guest
}

// guestVM is a transient libvirt domain running the test guest.
type guestVM struct {
	Name    string
	Dir     string
	Console string
}

var domainTmpl = template.Must(template.New("domain").Parse(`<domain type='qemu'>
  <name>{{.Name}}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{{.Image.Kernel}}</kernel>
    <initrd>{{.Image.Initrd}}</initrd>
    <cmdline>{{.Image.Cmdline}}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='scsi' model='virtio-scsi' index='0'/>
{{range .Disks}}{{.}}{{end}}    <serial type='file'><source path='{{.Console}}'/><target port='0'/></serial>
    <channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`))

// startGuest creates a domain with disks and destroys it at cleanup. It
// returns once libvirt started QEMU; the caller waits for the guest.
func startGuest(ctx context.Context, t *testing.T, img Image, disks []*bootDisk) *guestVM {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	vm := &guestVM{Name: "govirt-testguest-" + hex.EncodeToString(suffix)}
	vm.Dir = filepath.Join(vmRoot, vm.Name)
	vm.Console = filepath.Join(vm.Dir, "console.log")
	for _, d := range []string{vmRoot, vm.Dir} {
		if err := makeDir(d); err != nil {
			t.Fatalf("creating VM dir: %v", err)
		}
	}
	t.Cleanup(func() { vm.destroy(t) })
	var xmls []string
	for _, d := range disks {
		xmls = append(xmls, vm.diskXML(ctx, t, d))
	}
	var dom bytes.Buffer
	err := domainTmpl.Execute(&dom, map[string]any{"Name": vm.Name, "Image": img, "Disks": xmls, "Console": vm.Console})
	if err != nil {
		t.Fatal(err)
	}
	xmlPath := filepath.Join(vm.Dir, "domain.xml")
	if err := os.WriteFile(xmlPath, dom.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := virsh(ctx, "create", xmlPath); err != nil {
		t.Fatalf("starting the guest: %v\n%s", err, dom.String())
	}
	return vm
}

func (vm *guestVM) destroy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, _ := virsh(ctx, "list", "--name"); containsLine(out, vm.Name) {
		if _, err := virsh(ctx, "destroy", vm.Name); err != nil {
			t.Errorf("destroying %s: %v", vm.Name, err)
		}
	}
	if err := os.RemoveAll(vm.Dir); err != nil {
		t.Errorf("removing %s: %v", vm.Dir, err)
	}
}

func containsLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// diskXML creates the disk's image and returns its libvirt <disk> element.
func (vm *guestVM) diskXML(ctx context.Context, t *testing.T, d *bootDisk) string {
	t.Helper()
	addr := ""
	if d.Bus == "scsi" {
		addr = fmt.Sprintf("<address type='drive' controller='0' bus='0' target='%d' unit='%d'/>", d.Target, d.Unit)
	}
	if d.CDROM {
		return fmt.Sprintf(`    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='%s' bus='scsi'/>
      <readonly/>
      <serial>%s</serial>
      %s
    </disk>
`, d.Dev, d.Serial, addr)
	}
	d.Path = filepath.Join(vm.Dir, d.Serial+".qcow2")
	out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", d.Path,
		fmt.Sprintf("%dM", d.SizeMiB)).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	return fmt.Sprintf(`    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='%s' bus='%s'/>
      <serial>%s</serial>
      %s
    </disk>
`, d.Path, d.Dev, d.Bus, d.Serial, addr)
}

// hotplug attaches (or, with detach, removes) a disk on the running domain.
func (vm *guestVM) hotplug(ctx context.Context, t *testing.T, d *bootDisk, detach bool) {
	t.Helper()
	verb, xml := "detach-device", ""
	if detach {
		xml = fmt.Sprintf(`<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='%s'/><target dev='%s' bus='%s'/></disk>`, d.Path, d.Dev, d.Bus)
	} else {
		verb, xml = "attach-device", vm.diskXML(ctx, t, d)
	}
	path := filepath.Join(vm.Dir, verb+"-"+d.Serial+".xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := virsh(ctx, verb, vm.Name, path, "--live"); err != nil {
		t.Fatalf("%s %s: %v", verb, d.Serial, err)
	}
}

// agent runs one guest agent command, retrying while the agent is not yet
// connected (qemu-ga starts with GOVIRT-READY, libvirt connects shortly after).
func (vm *guestVM) agent(ctx context.Context, cmd string) (json.RawMessage, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := virsh(ctx, "qemu-agent-command", vm.Name, "--timeout", "10", cmd)
		if err == nil {
			var resp struct {
				Return json.RawMessage `json:"return"`
			}
			if err := json.Unmarshal([]byte(out), &resp); err != nil {
				return nil, fmt.Errorf("decoding agent reply %q: %w", out, err)
			}
			return resp.Return, nil
		}
		if !strings.Contains(err.Error(), "agent is not") {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// execResult is what guest-exec-status reports for a finished command.
type execResult struct {
	ExitCode       int
	Stdout, Stderr string
}

// guestExec runs a program in the guest through qemu-ga and waits for it.
func (vm *guestVM) guestExec(ctx context.Context, path string, args ...string) (execResult, error) {
	req, _ := json.Marshal(map[string]any{"execute": "guest-exec", "arguments": map[string]any{
		"path": path, "arg": args, "capture-output": true}})
	raw, err := vm.agent(ctx, string(req))
	if err != nil {
		return execResult{}, err
	}
	var started struct{ PID int }
	if err := json.Unmarshal(raw, &started); err != nil {
		return execResult{}, fmt.Errorf("guest-exec reply %s: %w", raw, err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		status := fmt.Sprintf(`{"execute":"guest-exec-status","arguments":{"pid":%d}}`, started.PID)
		raw, err := vm.agent(ctx, status)
		if err != nil {
			return execResult{}, err
		}
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			Out      string `json:"out-data"`
			Err      string `json:"err-data"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return execResult{}, fmt.Errorf("guest-exec-status reply %s: %w", raw, err)
		}
		if st.Exited {
			out, _ := base64.StdEncoding.DecodeString(st.Out)
			errOut, _ := base64.StdEncoding.DecodeString(st.Err)
			return execResult{ExitCode: st.ExitCode, Stdout: string(out), Stderr: string(errOut)}, nil
		}
		select {
		case <-ctx.Done():
			return execResult{}, fmt.Errorf("waiting for guest-exec of %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitGone waits until the transient domain no longer exists (it powered off).
func (vm *guestVM) waitGone(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := virsh(ctx, "list", "--name")
		if err == nil && !containsLine(out, vm.Name) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("domain %s still running: %w", vm.Name, ctx.Err())
		case <-tick.C:
		}
	}
}
