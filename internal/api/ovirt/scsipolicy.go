package ovirt

import "encoding/xml"

// SCSIPolicy is govirt's extension of oVirt's sgio: a named SCSI command
// policy for pass-through LUNs. filtered and unfiltered are built in (the
// sgio values); administrators define others.
type SCSIPolicy struct {
	XMLName     xml.Name `xml:"scsi_policy" json:"-"`
	Href        string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID          string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name        *string  `xml:"name,omitempty" json:"name,omitempty"`
	Description *string  `xml:"description,omitempty" json:"description,omitempty"`
	// Base is filtered, unfiltered or none: what is allowed before the rules.
	Base *string `xml:"base,omitempty" json:"base,omitempty"`
	// Allow and Deny hold rules: a command name (persistent-reserve-out), an
	// operation code (0x5f) or an operation code and service action (0x5f/0x01).
	Allow   *Rules `xml:"allow,omitempty" json:"allow,omitempty"`
	Deny    *Rules `xml:"deny,omitempty" json:"deny,omitempty"`
	BuiltIn *Bool  `xml:"built_in,omitempty" json:"built_in,omitempty"`
}

// Rules is a list of policy rules.
type Rules struct {
	Rules []string `xml:"rule" json:"rule"`
}

// SCSIPolicies is a collection.
type SCSIPolicies struct {
	XMLName  xml.Name     `xml:"scsi_policies" json:"-"`
	Policies []SCSIPolicy `xml:"scsi_policy" json:"scsi_policy"`
}
