package ovirt

import "encoding/xml"

// VM is oVirt's vm.
type VM struct {
	XMLName     xml.Name    `xml:"vm" json:"-"`
	Href        string      `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string      `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string     `xml:"name,omitempty" json:"name,omitempty"`
	Description *string     `xml:"description,omitempty" json:"description,omitempty"`
	Status      *string     `xml:"status,omitempty" json:"status,omitempty"`
	Memory      *Int        `xml:"memory,omitempty" json:"memory,omitempty"`
	CPU         *CPU        `xml:"cpu,omitempty" json:"cpu,omitempty"`
	OS          *OS         `xml:"os,omitempty" json:"os,omitempty"`
	IO          *IO         `xml:"io,omitempty" json:"io,omitempty"`
	VirtioSCSI  *VirtioSCSI `xml:"virtio_scsi,omitempty" json:"virtio_scsi,omitempty"`
	// API 4.5's multi-queue pair: enabled with no count is automatic.
	VirtioSCSIMultiQueuesEnabled *Bool `xml:"virtio_scsi_multi_queues_enabled,omitempty" json:"virtio_scsi_multi_queues_enabled,omitempty"`
	VirtioSCSIMultiQueues        *Int  `xml:"virtio_scsi_multi_queues,omitempty" json:"virtio_scsi_multi_queues,omitempty"`
	Cluster                      *Ref  `xml:"cluster,omitempty" json:"cluster,omitempty"`
	Template                     *Ref  `xml:"template,omitempty" json:"template,omitempty"`
	// PlacementPolicy is read from a start action: the hosts the VM may
	// run on, in order of preference.
	PlacementPolicy *PlacementPolicy `xml:"placement_policy,omitempty" json:"placement_policy,omitempty"`
	Host            *Ref             `xml:"host,omitempty" json:"host,omitempty"`
	// DiskAttachments may come inline on create, as oVirt allows.
	DiskAttachments *DiskAttachments `xml:"disk_attachments,omitempty" json:"disk_attachments,omitempty"`
	Actions         *Actions         `xml:"actions,omitempty" json:"actions,omitempty"`
	Links           []Link           `xml:"link,omitempty" json:"link,omitempty"`
}

// VirtioSCSI is <virtio_scsi><enabled>true</enabled></virtio_scsi>; the 3.3
// form <virtio_scsi enabled="true"/> is read too.
type VirtioSCSI struct {
	Enabled     *Bool `xml:"enabled,omitempty" json:"enabled,omitempty"`
	EnabledAttr *Bool `xml:"enabled,attr,omitempty" json:"-"`
}

// IsEnabled reads either form; nil means absent.
func (v *VirtioSCSI) IsEnabled() *bool {
	if v == nil {
		return nil
	}
	for _, b := range []*Bool{v.Enabled, v.EnabledAttr} {
		if b != nil {
			r := bool(*b)
			return &r
		}
	}
	return nil
}

// CPU carries the topology; vCPUs = sockets × cores × threads.
type CPU struct {
	Topology *Topology `xml:"topology,omitempty" json:"topology,omitempty"`
}

// Topology is the vCPU layout.
type Topology struct {
	Sockets *Int `xml:"sockets,omitempty" json:"sockets,omitempty"`
	Cores   *Int `xml:"cores,omitempty" json:"cores,omitempty"`
	Threads *Int `xml:"threads,omitempty" json:"threads,omitempty"`
}

// OS is the guest OS type and direct-boot settings.
type OS struct {
	Type    *string `xml:"type,omitempty" json:"type,omitempty"`
	Kernel  *string `xml:"kernel,omitempty" json:"kernel,omitempty"`
	Initrd  *string `xml:"initrd,omitempty" json:"initrd,omitempty"`
	Cmdline *string `xml:"cmdline,omitempty" json:"cmdline,omitempty"`
}

// IO carries the number of I/O threads.
type IO struct {
	Threads *Int `xml:"threads,omitempty" json:"threads,omitempty"`
}

// VMs is a collection of VMs.
type VMs struct {
	XMLName xml.Name `xml:"vms" json:"-"`
	VMs     []VM     `xml:"vm" json:"vm"`
}

// PlacementPolicy is oVirt's vm placement_policy: where a VM may run.
type PlacementPolicy struct {
	Affinity *string   `xml:"affinity,omitempty" json:"affinity,omitempty"`
	Hosts    *HostRefs `xml:"hosts,omitempty" json:"hosts,omitempty"`
}

// HostRefs lists hosts by id or name.
type HostRefs struct {
	Hosts []Ref `xml:"host" json:"host"`
}
