package ovirt

import "encoding/xml"

// Ref points at another resource: by id (and href in responses) or, where
// oVirt allows it on input, by name (<cluster><name>Default</name></cluster>).
type Ref struct {
	Href string  `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID   string  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name *string `xml:"name,omitempty" json:"name,omitempty"`
}

// Link is a related collection or an action.
type Link struct {
	Href string `xml:"href,attr" json:"href"`
	Rel  string `xml:"rel,attr" json:"rel"`
}

// Actions lists the actions of a resource.
type Actions struct {
	Links []Link `xml:"link" json:"link"`
}

// Fault is oVirt's error body.
type Fault struct {
	XMLName xml.Name `xml:"fault" json:"-"`
	Reason  string   `xml:"reason" json:"reason"`
	Detail  string   `xml:"detail" json:"detail"`
}

// Action is the body and result of an action such as start or stop.
type Action struct {
	XMLName xml.Name `xml:"action" json:"-"`
	Status  string   `xml:"status,omitempty" json:"status,omitempty"`
	Async   *Bool    `xml:"async,omitempty" json:"async,omitempty"`
	// Force and timeouts are accepted for compatibility; Fault carries errors.
	Force *Bool  `xml:"force,omitempty" json:"force,omitempty"`
	Fault *Fault `xml:"fault,omitempty" json:"fault,omitempty"`
	VM    *VM    `xml:"vm,omitempty" json:"vm,omitempty"`
	// Host is the destination of a migrate action (by id or name).
	Host *Ref `xml:"host,omitempty" json:"host,omitempty"`
}

// Version is a compatibility version.
type Version struct {
	Major *Int    `xml:"major,omitempty" json:"major,omitempty"`
	Minor *Int    `xml:"minor,omitempty" json:"minor,omitempty"`
	Build *Int    `xml:"build,omitempty" json:"build,omitempty"`
	Full  *string `xml:"full_version,omitempty" json:"full_version,omitempty"`
}
