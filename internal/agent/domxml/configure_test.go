package domxml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

// Each configurator runs on an empty domain and must produce exactly the
// wanted fragment and nothing else.

type configCase struct {
	name string
	vm   vmspec.VM
	opts Options
	want *libvirtxml.Domain
}

func runConfigCases(t *testing.T, fn configurator, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := &libvirtxml.Domain{}
			if err := fn(tc.vm, tc.opts, got); err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("domain differs (-want +got):\n%s", diff)
			}
		})
	}
}

func baseVM() vmspec.VM {
	return vmspec.VM{
		ID: "0c0ffee0-1234-4abc-8def-0123456789ab", Name: "base",
		MemoryMiB: 128, VCPUs: 1, VirtType: vmspec.VirtQEMU,
	}
}

func with(f func(*vmspec.VM)) vmspec.VM {
	vm := baseVM()
	f(&vm)
	return vm
}

func TestConfigureGeneral(t *testing.T) {
	general := func(typ, machine string, cpu *libvirtxml.DomainCPU) *libvirtxml.Domain {
		return &libvirtxml.Domain{
			Type: typ, Name: "base", UUID: "0c0ffee0-1234-4abc-8def-0123456789ab",
			Memory:     &libvirtxml.DomainMemory{Value: 128, Unit: "MiB"},
			VCPU:       &libvirtxml.DomainVCPU{Value: 1},
			OS:         &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Machine: machine}},
			Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
			CPU:        cpu,
			OnPoweroff: "destroy", OnReboot: "restart", OnCrash: "destroy",
		}
	}
	runConfigCases(t, configureGeneral, []configCase{
		{"qemu keeps the default cpu", baseVM(), Options{}, general("qemu", "pc", nil)},
		{"kvm passes the host cpu through",
			with(func(vm *vmspec.VM) { vm.VirtType = vmspec.VirtKVM }), Options{},
			general("kvm", "pc", &libvirtxml.DomainCPU{Mode: "host-passthrough"})},
		{"machine is kept",
			with(func(vm *vmspec.VM) { vm.Machine = "pc-i440fx-7.2" }), Options{},
			general("qemu", "pc-i440fx-7.2", nil)},
	})
}

func TestConfigureMetadata(t *testing.T) {
	runConfigCases(t, configureMetadata, []configCase{
		{"no host id, no metadata", baseVM(), Options{}, &libvirtxml.Domain{}},
		{"host id", baseVM(), Options{HostID: "h1"}, &libvirtxml.Domain{Metadata: &libvirtxml.DomainMetadata{
			XML: `<govirt:vm xmlns:govirt="https://govirt.dev/xmlns/agent/1"><host>h1</host></govirt:vm>`}}},
		{"host id is escaped", baseVM(), Options{HostID: `a<b>&"c'`}, &libvirtxml.Domain{Metadata: &libvirtxml.DomainMetadata{
			XML: `<govirt:vm xmlns:govirt="https://govirt.dev/xmlns/agent/1"><host>a&lt;b&gt;&amp;&#34;c&#39;</host></govirt:vm>`}}},
	})
}

func TestConfigureIOThreads(t *testing.T) {
	runConfigCases(t, configureIOThreads, []configCase{
		{"none", baseVM(), Options{}, &libvirtxml.Domain{}},
		{"three", with(func(vm *vmspec.VM) { vm.IOThreads = 3 }), Options{}, &libvirtxml.Domain{IOThreads: 3}},
	})
}

func TestConfigureBoot(t *testing.T) {
	runConfigCases(t, configureBoot, []configCase{
		{"disk boot writes nothing", baseVM(), Options{}, &libvirtxml.Domain{}},
		{"kernel only",
			with(func(vm *vmspec.VM) { vm.Boot.Kernel = "/k" }), Options{},
			&libvirtxml.Domain{OS: &libvirtxml.DomainOS{Kernel: "/k"}}},
		{"kernel, initrd and cmdline",
			with(func(vm *vmspec.VM) { vm.Boot = vmspec.DirectBoot{Kernel: "/k", Initrd: "/i", Cmdline: `a="b c"`} }), Options{},
			&libvirtxml.Domain{OS: &libvirtxml.DomainOS{Kernel: "/k", Initrd: "/i", Cmdline: `a="b c"`}}},
	})
}

func TestConfigureControllers(t *testing.T) {
	scsi := func(i uint, drv *libvirtxml.DomainControllerDriver) libvirtxml.DomainController {
		return libvirtxml.DomainController{Type: "scsi", Index: &i, Model: "virtio-scsi", Driver: drv}
	}
	four := uint(4)
	runConfigCases(t, configureControllers, []configCase{
		{"none", baseVM(), Options{}, &libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{}}},
		{"plain, queues, iothread, both",
			with(func(vm *vmspec.VM) {
				vm.IOThreads = 1
				vm.Controllers = []vmspec.Controller{{Index: 0}, {Index: 1, Queues: 4}, {Index: 2, IOThread: 1}, {Index: 3, Queues: 4, IOThread: 1}}
			}), Options{},
			&libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Controllers: []libvirtxml.DomainController{
				scsi(0, nil),
				scsi(1, &libvirtxml.DomainControllerDriver{Queues: &four}),
				scsi(2, &libvirtxml.DomainControllerDriver{IOThread: 1}),
				scsi(3, &libvirtxml.DomainControllerDriver{Queues: &four, IOThread: 1}),
			}}}},
	})
}

func TestConfigureGuestAgent(t *testing.T) {
	runConfigCases(t, configureGuestAgent, []configCase{
		{"off", baseVM(), Options{}, &libvirtxml.Domain{}},
		{"on", with(func(vm *vmspec.VM) { vm.GuestAgent = true }), Options{},
			&libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Channels: []libvirtxml.DomainChannel{{
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
				Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"}},
			}}}}},
	})
}

func TestConfigureConsole(t *testing.T) {
	zero := uint(0)
	file := &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: "/run/c.log", Append: "on"}}
	runConfigCases(t, configureConsole, []configCase{
		{"no path, no console", baseVM(), Options{}, &libvirtxml.Domain{}},
		{"file", baseVM(), Options{ConsolePath: "/run/c.log"},
			&libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{
				Serials:  []libvirtxml.DomainSerial{{Source: file, Target: &libvirtxml.DomainSerialTarget{Port: &zero}}},
				Consoles: []libvirtxml.DomainConsole{{Source: file, Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &zero}}},
			}}},
	})
}

func TestConfigureOptionalDevices(t *testing.T) {
	zero := uint(0)
	usb := func(model string) []libvirtxml.DomainController {
		return []libvirtxml.DomainController{{Type: "usb", Index: &zero, Model: model, USB: &libvirtxml.DomainControllerUSB{}}}
	}
	runConfigCases(t, configureOptionalDevices, []configCase{
		{"all off: libvirt must add nothing", baseVM(), Options{},
			&libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{
				Controllers: usb("none"),
				MemBalloon:  &libvirtxml.DomainMemBalloon{Model: "none"},
			}}},
		{"all on", with(func(vm *vmspec.VM) { vm.USB, vm.Balloon, vm.Video = true, true, true }), Options{},
			&libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{
				Controllers: usb("piix3-uhci"),
				MemBalloon:  &libvirtxml.DomainMemBalloon{Model: "virtio"},
				Videos:      []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga"}}},
			}}},
	})
}
