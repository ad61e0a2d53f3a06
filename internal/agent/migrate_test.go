package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

const destHost = "host-b"

// migrationPair is a source agent running a VM with an image disk and a
// filtered LUN, and a destination agent on its own fake libvirtd.
type migrationPair struct {
	src, dst     *Agent
	srcHV, dstHV *fakeHV
	vm           vmspec.VM
}

func newMigrationPair(t *testing.T) *migrationPair {
	t.Helper()
	p := &migrationPair{srcHV: newFakeHV(), dstHV: newFakeHV()}
	p.srcHV.peer = p.dstHV
	p.src = newTestAgent(t, p.srcHV)
	var err error
	p.dst, err = New(Config{HostID: destHost, VirtType: vmspec.VirtQEMU, StateDir: t.TempDir(),
		MigrationURI: "qemu+tls://b.example/system"}, p.dstHV, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.src.Close)
	t.Cleanup(p.dst.Close)
	sd := t.TempDir()
	if err := os.WriteFile(filepath.Join(sd, testDisk), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	port, _ := fakePortal(t)
	p.vm = testSpec()
	p.vm.Disks[0].File.DomainDir = sd
	p.vm.Disks = append(p.vm.Disks, lunSpec(port, &scsipolicy.Spec{Name: scsipolicy.NameFiltered}))
	if err := p.src.StartVM(context.Background(), p.vm); err != nil {
		t.Fatal(err)
	}
	return p
}

// listening tells whether something accepts connections on the port.
func listening(port string) bool {
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err == nil {
		_ = c.Close()
	}
	return err == nil
}

func TestMigrationMovesTheVMAndItsLUNProxy(t *testing.T) {
	ctx := context.Background()
	p := newMigrationPair(t)
	srcPort := proxyPort(t, p.srcHV.xmls[0])

	to, err := p.dst.PrepareMigration(ctx, p.vm)
	if err != nil {
		t.Fatal(err)
	}
	if to.URI != "qemu+tls://b.example/system" {
		t.Errorf("URI %q", to.URI)
	}
	dstPort := proxyPort(t, to.DomainXML)
	switch {
	case !strings.Contains(to.DomainXML, "<host>"+destHost+"</host>"):
		t.Errorf("the destination XML is not tagged with the destination host:\n%s", to.DomainXML)
	case !strings.Contains(to.DomainXML, p.dst.ConsolePath(testVM)) || !strings.Contains(to.DomainXML, `append="on"`):
		t.Errorf("the destination XML does not append to the destination's console:\n%s", to.DomainXML)
	case !listening(dstPort):
		t.Errorf("the destination's proxy (port %s) does not listen before the migration", dstPort)
	}
	if _, ok := p.dst.SCSIPolicyStats(testVM)[lunDisk]; !ok {
		t.Error("the destination has no proxy for the LUN")
	}

	if err := p.src.MigrateVM(ctx, testVM, to); err != nil {
		t.Fatal(err)
	}
	if len(p.src.SCSIPolicyStats(testVM)) != 0 || listening(srcPort) {
		t.Error("the source's proxy outlives the migration")
	}
	if err := p.dst.FinishIncoming(ctx, testVM, true); err != nil {
		t.Fatal(err)
	}
	vms, err := p.dst.ListVMs(ctx)
	if err != nil || len(vms) != 1 || vms[0].ID != testVM {
		t.Fatalf("destination lists %v (%v)", vms, err)
	}
	if vms, _ := p.src.ListVMs(ctx); len(vms) != 0 {
		t.Fatalf("source still lists %v", vms)
	}
	if !listening(dstPort) {
		t.Error("the destination's proxy stopped with the migration")
	}
}

func TestFailedMigrationDropsWhatTheDestinationPrepared(t *testing.T) {
	ctx := context.Background()
	p := newMigrationPair(t)
	srcPort := proxyPort(t, p.srcHV.xmls[0])
	to, err := p.dst.PrepareMigration(ctx, p.vm)
	if err != nil {
		t.Fatal(err)
	}
	dstPort := proxyPort(t, to.DomainXML)
	p.srcHV.migrateErr = errors.New("unable to connect to server")
	if err := p.src.MigrateVM(ctx, testVM, to); !errors.Is(err, ErrMigrationFailed) {
		t.Fatalf("MigrateVM: %v, want ErrMigrationFailed", err)
	}
	if err := p.dst.FinishIncoming(ctx, testVM, false); err != nil {
		t.Fatal(err)
	}
	if len(p.dst.SCSIPolicyStats(testVM)) != 0 || listening(dstPort) {
		t.Error("the destination's proxy outlives a failed migration")
	}
	if _, err := os.Stat(p.dst.proxyDir(testVM)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the destination keeps the proxy's record: %v", err)
	}
	if len(p.src.SCSIPolicyStats(testVM)) == 0 || !listening(srcPort) {
		t.Error("a failed migration stopped the source's proxy")
	}
	if vms, _ := p.src.ListVMs(ctx); len(vms) != 1 {
		t.Fatalf("the source lost the VM: %v", vms)
	}
	// A drop without a prepared migration never stops a VM running here.
	if err := p.src.FinishIncoming(ctx, testVM, false); err != nil {
		t.Fatal(err)
	}
	if vms, _ := p.src.ListVMs(ctx); len(vms) != 1 || !listening(srcPort) {
		t.Fatalf("FinishIncoming(false) on the source stopped its VM (%v) or its proxy", vms)
	}
}

func TestPrepareMigrationRefusals(t *testing.T) {
	ctx := context.Background()
	p := newMigrationPair(t)
	noURI := newTestAgent(t, newFakeHV())
	if _, err := noURI.PrepareMigration(ctx, p.vm); !errors.Is(err, ErrNoMigrationURI) {
		t.Errorf("without a migration URI: %v", err)
	}
	far := p.vm
	far.Disks = append([]vmspec.Disk(nil), p.vm.Disks...)
	f := *far.Disks[0].File
	f.DomainDir = filepath.Join(t.TempDir(), "not-mounted")
	far.Disks[0].File = &f
	if _, err := p.dst.PrepareMigration(ctx, far); !errors.Is(err, ErrStorageNotShared) {
		t.Errorf("volume missing here: %v, want ErrStorageNotShared", err)
	}
	if len(p.dst.SCSIPolicyStats(testVM)) != 0 {
		t.Error("a refused prepare left a proxy")
	}
	// The source itself is no destination: the VM already runs there.
	p.src.cfg.MigrationURI = "qemu:///system"
	if _, err := p.src.PrepareMigration(ctx, p.vm); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("prepare where the VM runs: %v, want ErrAlreadyRunning", err)
	}
}
