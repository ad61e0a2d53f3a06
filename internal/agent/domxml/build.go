package domxml

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/govirt/govirt/internal/vmspec"
)

// MetadataNS is the namespace of govirt's element in <metadata>. libvirt keys
// per-application metadata by namespace URI, so the agent finds its own
// element again with virDomainGetMetadata(MetadataNS) after a restart.
const MetadataNS = "https://govirt.dev/xmlns/agent/1"

// MetadataKey is the namespace prefix govirt writes, and the key libvirt's
// virDomainSetMetadata wants next to MetadataNS when the agent rewrites it.
const MetadataKey = "govirt"

// Options are the host-local facts the engine cannot know: they differ per
// host and per start, so they stay out of vmspec.VM.
type Options struct {
	// HostID is the owning agent's id, recorded in the domain's metadata so
	// that an agent that restarts can tell its own domains from strangers'.
	// Empty: no metadata element.
	HostID string
	// ConsolePath is an absolute file the guest's serial console is written
	// to, so boot problems can be read without a display. Empty: no serial
	// port and no console at all.
	ConsolePath string
}

// configurator fills one concern of the domain. Each one is small and
// testable from an empty domain, as in KubeVirt's refactored converter.
type configurator func(vm vmspec.VM, opts Options, dom *libvirtxml.Domain) error

// configurators run in this order; the names prefix their errors so a
// refusal says which part of the spec was wrong.
var configurators = []struct {
	name string
	fn   configurator
}{
	{"general", configureGeneral},
	{"metadata", configureMetadata},
	{"iothreads", configureIOThreads},
	{"boot", configureBoot},
	{"controllers", configureControllers},
	{"disks", configureDisks},
	{"guest agent", configureGuestAgent},
	{"console", configureConsole},
	{"optional devices", configureOptionalDevices},
}

// Build renders vm into a libvirt domain. It validates the spec first, so
// a caller never hands libvirt a domain the engine's contract forbids.
func Build(vm vmspec.VM, opts Options) (*libvirtxml.Domain, error) {
	if err := vm.Validate(); err != nil {
		return nil, err
	}
	dom := &libvirtxml.Domain{}
	for _, c := range configurators {
		if err := c.fn(vm, opts, dom); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return dom, nil
}

// Marshal is Build followed by XML encoding: the string the agent passes to
// virDomainCreateXML.
func Marshal(vm vmspec.VM, opts Options) (string, error) {
	dom, err := Build(vm, opts)
	if err != nil {
		return "", err
	}
	s, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("encode domain %q: %w", vm.Name, err)
	}
	return s, nil
}

// devices returns the domain's device list, creating it on first use so
// that every configurator can run on an empty domain.
func devices(dom *libvirtxml.Domain) *libvirtxml.DomainDeviceList {
	if dom.Devices == nil {
		dom.Devices = &libvirtxml.DomainDeviceList{}
	}
	return dom.Devices
}

// invalid builds an error that wraps vmspec.ErrInvalid, so callers treat
// the agent's own refusals like the spec validator's.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", vmspec.ErrInvalid, fmt.Sprintf(format, args...))
}

func uintPtr(v uint) *uint { return &v }
