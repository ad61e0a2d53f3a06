package ovirt

import "encoding/xml"

// Cdrom is a VM's CD-ROM drive; File names the ISO in it (empty id: none).
type Cdrom struct {
	XMLName xml.Name `xml:"cdrom" json:"-"`
	Href    string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID      string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	File    *File    `xml:"file,omitempty" json:"file,omitempty"`
	VM      *Ref     `xml:"vm,omitempty" json:"vm,omitempty"`
}

// File is an ISO image, named by id as oVirt does.
type File struct {
	ID string `xml:"id,attr" json:"id"`
}

// Cdroms is a VM's CD-ROM collection.
type Cdroms struct {
	XMLName xml.Name `xml:"cdroms" json:"-"`
	Cdroms  []Cdrom  `xml:"cdrom" json:"cdrom"`
}
