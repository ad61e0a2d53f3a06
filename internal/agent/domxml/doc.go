// Package domxml turns a vmspec.VM into libvirt domain XML and reads live
// domain XML back. It is pure (no libvirt connection, no file I/O): the agent
// decides nothing here, it only renders what the engine decided.
//
// Build runs a list of small configurators over an empty
// libvirtxml.Domain, each owning one concern (identity and machine,
// metadata, iothreads, boot, controllers, disks, guest agent, console,
// optional devices). Devices libvirt would add on its own are always
// written out explicitly, because the engine counts PCI slots from the spec.
//
// Hot-plug uses DiskXML and ControllerXML, which share the disk and
// controller rendering with Build. Hot-unplug needs no XML of its own: the
// agent detaches a disk by alias (virDomainDetachDeviceAlias with
// vmspec.Disk.Alias()); libvirt also accepts the DiskXML of the disk in
// virDomainDetachDeviceFlags, matching it by target dev.
//
// Refusals wrap vmspec.ErrInvalid. Besides vmspec's own checks, the
// renderer refuses what libvirt 9.0 would refuse or silently alter: paths
// that are not absolute, volumes outside their storage domain, text XML
// cannot carry, serials and target devs outside libvirt's schema, serials
// on pass-through LUNs, unfiltered sgio, and SATA on i440fx.
package domxml
