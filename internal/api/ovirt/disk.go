package ovirt

import "encoding/xml"

// Disk is oVirt's disk: an image or a direct LUN. The deprecated interface
// and bootable elements are read (and honoured on attach) as oVirt does.
type Disk struct {
	XMLName         xml.Name        `xml:"disk" json:"-"`
	Href            string          `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID              string          `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name            *string         `xml:"name,omitempty" json:"name,omitempty"`
	Alias           *string         `xml:"alias,omitempty" json:"alias,omitempty"`
	Description     *string         `xml:"description,omitempty" json:"description,omitempty"`
	Format          *string         `xml:"format,omitempty" json:"format,omitempty"`
	ProvisionedSize *Int            `xml:"provisioned_size,omitempty" json:"provisioned_size,omitempty"`
	Status          *string         `xml:"status,omitempty" json:"status,omitempty"`
	StorageType     *string         `xml:"storage_type,omitempty" json:"storage_type,omitempty"`
	Shareable       *Bool           `xml:"shareable,omitempty" json:"shareable,omitempty"`
	Sgio            *string         `xml:"sgio,omitempty" json:"sgio,omitempty"`
	PropagateErrors *Bool           `xml:"propagate_errors,omitempty" json:"propagate_errors,omitempty"`
	Interface       *string         `xml:"interface,omitempty" json:"interface,omitempty"` // deprecated: on the attachment
	Bootable        *Bool           `xml:"bootable,omitempty" json:"bootable,omitempty"`   // deprecated: on the attachment
	StorageDomains  *StorageDomains `xml:"storage_domains,omitempty" json:"storage_domains,omitempty"`
	LunStorage      *HostStorage    `xml:"lun_storage,omitempty" json:"lun_storage,omitempty"`
	// SCSIPolicy (govirt's extension) names a pass-through LUN's SCSI
	// command policy, by name on input; sgio names a built-in one.
	SCSIPolicy *Ref `xml:"scsi_policy,omitempty" json:"scsi_policy,omitempty"`
	// SgioEffective is govirt's extension: the policy the agent's iSCSI
	// proxy enforces for the LUN.
	SgioEffective *string  `xml:"sgio_effective,omitempty" json:"sgio_effective,omitempty"`
	Actions       *Actions `xml:"actions,omitempty" json:"actions,omitempty"`
	Links         []Link   `xml:"link,omitempty" json:"link,omitempty"`
}

// Disks is a collection of disks.
type Disks struct {
	XMLName xml.Name `xml:"disks" json:"-"`
	Disks   []Disk   `xml:"disk" json:"disk"`
}

// HostStorage is oVirt's lun_storage of a direct LUN disk.
type HostStorage struct {
	Type         *string       `xml:"type,omitempty" json:"type,omitempty"`
	LogicalUnits *LogicalUnits `xml:"logical_units,omitempty" json:"logical_units,omitempty"`
}

// LogicalUnits wraps the LUNs of a lun_storage.
type LogicalUnits struct {
	LogicalUnits []LogicalUnit `xml:"logical_unit" json:"logical_unit"`
}

// LogicalUnit is one iSCSI LUN.
type LogicalUnit struct {
	ID         string  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Address    *string `xml:"address,omitempty" json:"address,omitempty"`
	Port       *Int    `xml:"port,omitempty" json:"port,omitempty"`
	Target     *string `xml:"target,omitempty" json:"target,omitempty"`
	LunMapping *Int    `xml:"lun_mapping,omitempty" json:"lun_mapping,omitempty"`
	Serial     *string `xml:"serial,omitempty" json:"serial,omitempty"`
	VendorID   *string `xml:"vendor_id,omitempty" json:"vendor_id,omitempty"`
	ProductID  *string `xml:"product_id,omitempty" json:"product_id,omitempty"`
	Size       *Int    `xml:"size,omitempty" json:"size,omitempty"`
}

// DiskAttachment is how a disk attaches to a VM.
type DiskAttachment struct {
	XMLName             xml.Name `xml:"disk_attachment" json:"-"`
	Href                string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID                  string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Active              *Bool    `xml:"active,omitempty" json:"active,omitempty"`
	Bootable            *Bool    `xml:"bootable,omitempty" json:"bootable,omitempty"`
	Interface           *string  `xml:"interface,omitempty" json:"interface,omitempty"`
	LogicalName         *string  `xml:"logical_name,omitempty" json:"logical_name,omitempty"`
	PassDiscard         *Bool    `xml:"pass_discard,omitempty" json:"pass_discard,omitempty"`
	ReadOnly            *Bool    `xml:"read_only,omitempty" json:"read_only,omitempty"`
	UsesSCSIReservation *Bool    `xml:"uses_scsi_reservation,omitempty" json:"uses_scsi_reservation,omitempty"`
	Disk                *Disk    `xml:"disk,omitempty" json:"disk,omitempty"`
	VM                  *Ref     `xml:"vm,omitempty" json:"vm,omitempty"`
	// Address is govirt's extension: the drive address the engine gave a
	// disk on virtio-scsi, as oVirt stores it ({bus=0, controller=0, ...}).
	Address *string `xml:"address,omitempty" json:"address,omitempty"`
}

// DiskAttachments is a collection of disk attachments.
type DiskAttachments struct {
	XMLName         xml.Name         `xml:"disk_attachments" json:"-"`
	DiskAttachments []DiskAttachment `xml:"disk_attachment" json:"disk_attachment"`
}
