// Package agent is govirt's host agent (the VDSM role): it runs the VMs the
// engine describes as transient libvirt domains, hot-plugs their disks, asks
// the guest agent what the guest sees and manages image volumes. All libvirt
// access goes through the small Hypervisor interface it defines.
package agent
