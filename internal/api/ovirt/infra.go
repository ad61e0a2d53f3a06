package ovirt

import "encoding/xml"

// DataCenter is oVirt's data_center.
type DataCenter struct {
	XMLName     xml.Name `xml:"data_center" json:"-"`
	Href        string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string  `xml:"name,omitempty" json:"name,omitempty"`
	Description *string  `xml:"description,omitempty" json:"description,omitempty"`
	Local       *Bool    `xml:"local,omitempty" json:"local,omitempty"`
	Status      *string  `xml:"status,omitempty" json:"status,omitempty"`
	Version     *Version `xml:"version,omitempty" json:"version,omitempty"`
	Links       []Link   `xml:"link,omitempty" json:"link,omitempty"`
}

// DataCenters is a collection.
type DataCenters struct {
	XMLName     xml.Name     `xml:"data_centers" json:"-"`
	DataCenters []DataCenter `xml:"data_center" json:"data_center"`
}

// Cluster is oVirt's cluster.
type Cluster struct {
	XMLName     xml.Name `xml:"cluster" json:"-"`
	Href        string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string  `xml:"name,omitempty" json:"name,omitempty"`
	Description *string  `xml:"description,omitempty" json:"description,omitempty"`
	Version     *Version `xml:"version,omitempty" json:"version,omitempty"`
	DataCenter  *Ref     `xml:"data_center,omitempty" json:"data_center,omitempty"`
	Links       []Link   `xml:"link,omitempty" json:"link,omitempty"`
}

// Clusters is a collection.
type Clusters struct {
	XMLName  xml.Name  `xml:"clusters" json:"-"`
	Clusters []Cluster `xml:"cluster" json:"cluster"`
}

// Host is oVirt's host.
type Host struct {
	XMLName xml.Name `xml:"host" json:"-"`
	Href    string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID      string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name    *string  `xml:"name,omitempty" json:"name,omitempty"`
	Address *string  `xml:"address,omitempty" json:"address,omitempty"`
	// Port is the agent's port (oVirt's VDSM port, 54321 by default).
	Port   *string `xml:"port,omitempty" json:"port,omitempty"`
	Status *string `xml:"status,omitempty" json:"status,omitempty"`
	// RootPassword carries the agent's one-time bootstrap secret on
	// POST /hosts, where oVirt clients send the SSH root password. It is
	// never written out.
	RootPassword *string `xml:"root_password,omitempty" json:"root_password,omitempty"`
	Cluster      *Ref    `xml:"cluster,omitempty" json:"cluster,omitempty"`
	Links        []Link  `xml:"link,omitempty" json:"link,omitempty"`
}

// Hosts is a collection.
type Hosts struct {
	XMLName xml.Name `xml:"hosts" json:"-"`
	Hosts   []Host   `xml:"host" json:"host"`
}

// StorageDomain is oVirt's storage_domain; govirt's are file domains whose
// <storage><path> is a directory on the hosts.
type StorageDomain struct {
	XMLName     xml.Name     `xml:"storage_domain" json:"-"`
	Href        string       `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string       `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string      `xml:"name,omitempty" json:"name,omitempty"`
	Description *string      `xml:"description,omitempty" json:"description,omitempty"`
	Type        *string      `xml:"type,omitempty" json:"type,omitempty"`
	Storage     *Storage     `xml:"storage,omitempty" json:"storage,omitempty"`
	DataCenters *DataCenters `xml:"data_centers,omitempty" json:"data_centers,omitempty"`
	Links       []Link       `xml:"link,omitempty" json:"link,omitempty"`
}

// Storage describes where a storage domain lives.
type Storage struct {
	Type *string `xml:"type,omitempty" json:"type,omitempty"`
	Path *string `xml:"path,omitempty" json:"path,omitempty"`
}

// StorageDomains is a collection.
type StorageDomains struct {
	XMLName        xml.Name        `xml:"storage_domains" json:"-"`
	StorageDomains []StorageDomain `xml:"storage_domain" json:"storage_domain"`
}

// Event is one audit log entry.
type Event struct {
	XMLName     xml.Name `xml:"event" json:"-"`
	Href        string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Code        *Int     `xml:"code,omitempty" json:"code,omitempty"`
	Description *string  `xml:"description,omitempty" json:"description,omitempty"`
	Severity    *string  `xml:"severity,omitempty" json:"severity,omitempty"`
	Time        *string  `xml:"time,omitempty" json:"time,omitempty"`
	Origin      *string  `xml:"origin,omitempty" json:"origin,omitempty"`
	VM          *Ref     `xml:"vm,omitempty" json:"vm,omitempty"`
	Host        *Ref     `xml:"host,omitempty" json:"host,omitempty"`
	User        *Ref     `xml:"user,omitempty" json:"user,omitempty"`
}

// Events is a collection.
type Events struct {
	XMLName xml.Name `xml:"events" json:"-"`
	Events  []Event  `xml:"event" json:"event"`
}

// OperatingSystem is one entry of /operatingsystems.
type OperatingSystem struct {
	XMLName     xml.Name `xml:"operating_system" json:"-"`
	Href        string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string  `xml:"name,omitempty" json:"name,omitempty"`
	Description *string  `xml:"description,omitempty" json:"description,omitempty"`
}

// OperatingSystems is a collection.
type OperatingSystems struct {
	XMLName          xml.Name          `xml:"operating_systems" json:"-"`
	OperatingSystems []OperatingSystem `xml:"operating_system" json:"operating_system"`
}

// API is the root resource.
type API struct {
	XMLName     xml.Name     `xml:"api" json:"-"`
	Links       []Link       `xml:"link" json:"link"`
	ProductInfo *ProductInfo `xml:"product_info,omitempty" json:"product_info,omitempty"`
	Time        *string      `xml:"time,omitempty" json:"time,omitempty"`
}

// ProductInfo names the product and its API version.
type ProductInfo struct {
	Name    *string  `xml:"name,omitempty" json:"name,omitempty"`
	Vendor  *string  `xml:"vendor,omitempty" json:"vendor,omitempty"`
	Version *Version `xml:"version,omitempty" json:"version,omitempty"`
}
