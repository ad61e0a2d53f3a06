package domxml

import (
	"path/filepath"
	"unicode/utf8"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

// maxMemoryMiB keeps MemoryMiB representable in libvirt's KiB counter (an
// unsigned 64-bit number) and in this platform's uint.
const maxMemoryMiB = (1<<63 - 1) >> 10

// configureGeneral sets identity, size, machine and life-cycle. ACPI is on
// because the agent shuts guests down with an ACPI power button press.
func configureGeneral(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	if err := xmlText("vm name", vm.Name); err != nil {
		return err
	}
	if vm.MemoryMiB > maxMemoryMiB || uint64(uint(vm.MemoryMiB)) != vm.MemoryMiB {
		return invalid("memory %d MiB is too large", vm.MemoryMiB)
	}
	machine := vm.Machine
	if machine == "" {
		machine = vmspec.DefaultMachine
	}
	if err := xmlText("machine", machine); err != nil {
		return err
	}
	dom.Type = string(vm.VirtType)
	dom.Name = vm.Name
	dom.UUID = vm.ID
	dom.Memory = &libvirtxml.DomainMemory{Value: uint(vm.MemoryMiB), Unit: "MiB"}
	dom.VCPU = &libvirtxml.DomainVCPU{Value: uint(vm.VCPUs)}
	if dom.OS == nil {
		dom.OS = &libvirtxml.DomainOS{}
	}
	dom.OS.Type = &libvirtxml.DomainOSType{Type: "hvm", Machine: machine}
	dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}}
	dom.OnPoweroff = "destroy"
	dom.OnReboot = "restart"
	dom.OnCrash = "destroy"
	if vm.VirtType == vmspec.VirtKVM {
		// TCG keeps libvirt's default CPU model; under KVM the guest gets the
		// host's CPU so it runs at native speed.
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough"}
	}
	return nil
}

// configureMetadata records the owning host, so an agent can recognise its
// domains after it restarts without keeping state of its own.
func configureMetadata(_ vmspec.VM, opts Options, dom *libvirtxml.Domain) error {
	if opts.HostID == "" {
		return nil
	}
	inner, err := metadataXML(opts.HostID)
	if err != nil {
		return err
	}
	dom.Metadata = &libvirtxml.DomainMetadata{XML: inner}
	return nil
}

// configureIOThreads declares the iothreads that controllers refer to;
// vmspec.Validate has checked that no controller uses one beyond the count.
func configureIOThreads(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	dom.IOThreads = uint(vm.IOThreads)
	return nil
}

// configureBoot sets up direct kernel boot. Disk boot needs nothing here:
// each disk carries its own <boot order>, which configureDisks writes only
// when the VM does not boot a kernel directly (SeaBIOS would otherwise
// prefer the disk over the kernel).
func configureBoot(vm vmspec.VM, _ Options, dom *libvirtxml.Domain) error {
	b := vm.Boot
	if !b.Enabled() {
		if b.Initrd != "" || b.Cmdline != "" {
			return invalid("initrd or cmdline without a kernel")
		}
		return nil
	}
	if err := absPath("kernel", b.Kernel); err != nil {
		return err
	}
	if b.Initrd != "" {
		if err := absPath("initrd", b.Initrd); err != nil {
			return err
		}
	}
	if err := xmlText("kernel cmdline", b.Cmdline); err != nil {
		return err
	}
	if dom.OS == nil {
		dom.OS = &libvirtxml.DomainOS{}
	}
	dom.OS.Kernel = b.Kernel
	dom.OS.Initrd = b.Initrd
	dom.OS.Cmdline = b.Cmdline
	return nil
}

// absPath refuses host paths that libvirt would resolve against its own
// working directory, and text XML cannot carry.
func absPath(what, p string) error {
	if !filepath.IsAbs(p) {
		return invalid("%s %q is not an absolute path", what, p)
	}
	return xmlText(what, p)
}

// xmlText refuses strings XML 1.0 cannot carry. encoding/xml would replace
// such characters, so the domain libvirt sees would differ from the spec
// (a different name, a different path) instead of failing loudly.
func xmlText(what, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if !xmlChar(r) {
			return invalid("%s %q contains character %U, which XML cannot carry", what, s, r)
		}
	}
	return nil
}

// xmlChar is the Char production of XML 1.0.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
