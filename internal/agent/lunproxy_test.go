package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/scsi"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

const lunDisk = "0b7f3a10-1111-4c2d-8e9f-000000000002"

// fakePortal accepts connections and counts them: the proxy dials the
// target for each initiator connection.
func fakePortal(t *testing.T) (port uint16, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- struct{}{}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), ch
}

func lunSpec(port uint16, pol *scsipolicy.Spec) vmspec.Disk {
	return vmspec.Disk{ID: lunDisk, Bus: vmspec.BusSCSI, Device: vmspec.DeviceLUN, TargetDev: "sdb",
		Address: &scsi.DriveAddress{Target: 2}, SGIO: vmspec.SGIOFiltered,
		ISCSI:      &vmspec.ISCSISource{Host: "127.0.0.1", Port: port, IQN: "iqn.2026-11.dev.govirt.test:t", LUN: 1},
		SCSIPolicy: pol}
}

// proxyPort finds the port QEMU was told to use for the LUN in the XML.
func proxyPort(t *testing.T, xml string) string {
	t.Helper()
	i := strings.Index(xml, `<host name="127.0.0.1" port="`)
	if i < 0 {
		t.Fatalf("no loopback iSCSI host in\n%s", xml)
	}
	rest := xml[i+len(`<host name="127.0.0.1" port="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestLUNWithPolicyGoesThroughAProxy(t *testing.T) {
	ctx := context.Background()
	hv := newFakeHV()
	a := newTestAgent(t, hv)
	port, accepted := fakePortal(t)
	vm := testSpec()
	vm.Disks = append(vm.Disks, lunSpec(port, &scsipolicy.Spec{Name: scsipolicy.NameFiltered}))
	if err := a.StartVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	got := proxyPort(t, hv.xmls[0])
	if got == fmt.Sprint(port) {
		t.Fatalf("QEMU is pointed at the target itself (port %s), not at a proxy", got)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+got)
	if err != nil {
		t.Fatalf("nothing listens where QEMU is pointed: %v", err)
	}
	defer func() { _ = c.Close() }()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not connect to the target")
	}
	if _, ok := a.SCSIPolicyStats(testVM)[lunDisk]; !ok {
		t.Error("no stats for the LUN's proxy")
	}
	if err := a.SetSCSIPolicy(ctx, testVM, lunDisk, scsipolicy.Presets()[0]); err != nil {
		t.Errorf("SetSCSIPolicy: %v", err)
	}
	if err := a.SetSCSIPolicy(ctx, testVM, testDisk, scsipolicy.Presets()[0]); !errors.Is(err, ErrNoSCSIPolicy) {
		t.Errorf("SetSCSIPolicy on an image disk: %v, want ErrNoSCSIPolicy", err)
	}
	if err := a.SetSCSIPolicy(ctx, testVM, lunDisk, scsipolicy.Spec{Name: "x", Base: "odd"}); !errors.Is(err, vmspec.ErrInvalid) {
		t.Errorf("SetSCSIPolicy with a bad policy: %v, want ErrInvalid", err)
	}
	if err := a.DestroyVM(ctx, testVM); err != nil {
		t.Fatal(err)
	}
	if len(a.SCSIPolicyStats(testVM)) != 0 {
		t.Error("proxies outlive the VM")
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+got); err == nil {
		_ = c.Close()
		t.Error("the proxy still listens after the VM was destroyed")
	}
}

func TestLUNProxyStopsWhenTheDomainStops(t *testing.T) {
	ctx := context.Background()
	hv := newFakeHV()
	a := newTestAgent(t, hv)
	port, _ := fakePortal(t)
	vm := testSpec()
	vm.Disks = append(vm.Disks, lunSpec(port, &scsipolicy.Spec{Name: scsipolicy.NameUnfiltered}))
	if err := a.StartVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	hv.emit(Event{VMID: testVM, Kind: EventLifecycle, State: StateShutoff})
	deadline := time.Now().Add(10 * time.Second)
	for len(a.SCSIPolicyStats(testVM)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy was not stopped after the domain stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLUNProxyHotPlugAndUnplug(t *testing.T) {
	ctx := context.Background()
	hv := newFakeHV()
	vm := testSpec()
	hv.add(vm, testHost)
	hv.detach = func(h *fakeHV, uuid, alias string) { h.remove(uuid, alias) }
	a := newTestAgent(t, hv)
	port, _ := fakePortal(t)
	d := lunSpec(port, &scsipolicy.Spec{Name: scsipolicy.NameFiltered})
	if err := a.HotPlugDisk(ctx, testVM, d); err != nil {
		t.Fatal(err)
	}
	if got := proxyPort(t, hv.xmls[0]); got == fmt.Sprint(port) {
		t.Fatal("hot-plugged LUN points at the target itself")
	}
	if len(a.SCSIPolicyStats(testVM)) != 1 {
		t.Fatal("no proxy for the hot-plugged LUN")
	}
	hv.mu.Lock()
	dom := hv.doms[testVM]
	dom.vm.Disks = append(dom.vm.Disks, d)
	hv.doms[testVM] = dom
	hv.mu.Unlock()
	if err := a.HotUnplugDisk(ctx, testVM, lunDisk, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(a.SCSIPolicyStats(testVM)) != 0 {
		t.Error("the proxy outlives the unplugged disk")
	}
	// A LUN without a policy is left to QEMU.
	d.SCSIPolicy = nil
	if err := a.HotPlugDisk(ctx, testVM, d); err != nil {
		t.Fatal(err)
	}
	if got := proxyPort(t, hv.xmls[1]); got != fmt.Sprint(port) {
		t.Errorf("a LUN without a policy got port %s, want the target's %d", got, port)
	}
}

func TestRestartedAgentRestoresLUNProxies(t *testing.T) {
	ctx := context.Background()
	hv := newFakeHV()
	dir := t.TempDir()
	start := func() *Agent {
		a, err := New(Config{HostID: testHost, VirtType: vmspec.VirtQEMU, StateDir: dir}, hv, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := start()
	port, accepted := fakePortal(t)
	vm := testSpec()
	vm.Disks = append(vm.Disks, lunSpec(port, &scsipolicy.Spec{Name: scsipolicy.NameFiltered}))
	if err := a.StartVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSCSIPolicy(ctx, testVM, lunDisk, scsipolicy.Presets()[0]); err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + proxyPort(t, hv.xmls[0])
	a.Close() // the agent stops; the VM keeps running
	if c, err := net.Dial("tcp", listen); err == nil {
		_ = c.Close()
		t.Fatal("the proxy still listens after the agent closed")
	}

	b := start()
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatalf("the restarted agent does not listen where QEMU reconnects: %v", err)
	}
	_ = c.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the restored proxy did not connect to the target")
	}
	if err := b.SetSCSIPolicy(ctx, testVM, lunDisk, scsipolicy.Spec{Name: scsipolicy.NameFiltered}); err != nil {
		t.Errorf("SetSCSIPolicy on the restored proxy: %v", err)
	}
	if err := b.DestroyVM(ctx, testVM); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Nothing is restored for a VM that was destroyed, nor for one that
	// stopped while no agent ran.
	a = start()
	if err := a.StartVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := hv.Destroy(ctx, testVM); err != nil {
		t.Fatal(err)
	}
	b = start()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(b.SCSIPolicyStats(testVM)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy of a VM that stopped while the agent was down was kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
