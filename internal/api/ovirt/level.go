package ovirt

import "encoding/xml"

// ClusterLevel is oVirt's cluster_level: what a compatibility version
// offers. Clients such as the portal read it to know which action groups
// exist and which features (virtio_scsi) a cluster of that level has.
type ClusterLevel struct {
	XMLName         xml.Name         `xml:"cluster_level" json:"-"`
	Href            string           `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID              string           `xml:"id,attr,omitempty" json:"id,omitempty"`
	Permits         *LevelPermits    `xml:"permits,omitempty" json:"permits,omitempty"`
	ClusterFeatures *ClusterFeatures `xml:"cluster_features,omitempty" json:"cluster_features,omitempty"`
}

// ClusterLevels is a collection of cluster levels.
type ClusterLevels struct {
	XMLName       xml.Name       `xml:"cluster_levels" json:"-"`
	ClusterLevels []ClusterLevel `xml:"cluster_level" json:"cluster_level"`
}

// LevelPermits wraps the permits of a cluster level.
type LevelPermits struct {
	Permits []LevelPermit `xml:"permit" json:"permit"`
}

// LevelPermit is one action group as a cluster level lists it: oVirt's
// permit fields, and govirt's label and category, which the role dialog's
// tree shows.
type LevelPermit struct {
	ID             string  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name           *string `xml:"name,omitempty" json:"name,omitempty"`
	Description    *string `xml:"description,omitempty" json:"description,omitempty"`
	Administrative *Bool   `xml:"administrative,omitempty" json:"administrative,omitempty"`
	Label          *string `xml:"label,omitempty" json:"label,omitempty"`
	Category       *string `xml:"category,omitempty" json:"category,omitempty"`
}

// ClusterFeatures wraps the features of a cluster level.
type ClusterFeatures struct {
	ClusterFeatures []ClusterFeature `xml:"cluster_feature" json:"cluster_feature"`
}

// ClusterFeature is one feature a cluster level has.
type ClusterFeature struct {
	ID          string  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string `xml:"name,omitempty" json:"name,omitempty"`
	Description *string `xml:"description,omitempty" json:"description,omitempty"`
}

// DiskInterfaces lists disk interfaces, govirt's extension of an operating
// system: which interfaces it has drivers for or can hot-plug.
type DiskInterfaces struct {
	DiskInterfaces []string `xml:"disk_interface" json:"disk_interface"`
}
