package ovirt

import "encoding/xml"

// User is oVirt's user. Password is read when an internal user is added or
// changed and never written: responses are built without it.
type User struct {
	XMLName   xml.Name `xml:"user" json:"-"`
	Href      string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID        string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name      *string  `xml:"name,omitempty" json:"name,omitempty"`
	UserName  *string  `xml:"user_name,omitempty" json:"user_name,omitempty"`
	Principal *string  `xml:"principal,omitempty" json:"principal,omitempty"`
	Namespace *string  `xml:"namespace,omitempty" json:"namespace,omitempty"`
	Email     *string  `xml:"email,omitempty" json:"email,omitempty"`
	Password  *string  `xml:"password,omitempty" json:"password,omitempty"`
	Domain    *Domain  `xml:"domain,omitempty" json:"domain,omitempty"`
	Links     []Link   `xml:"link,omitempty" json:"link,omitempty"`
}

// Users is a collection of users.
type Users struct {
	XMLName xml.Name `xml:"users" json:"-"`
	Users   []User   `xml:"user" json:"user"`
}

// Domain is the authorization domain of a user, named by id or name.
type Domain struct {
	Href string  `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID   string  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name *string `xml:"name,omitempty" json:"name,omitempty"`
}

// Role is oVirt's role. Permits come inline only on add; afterwards they
// are the role's permits sub-collection.
type Role struct {
	XMLName        xml.Name `xml:"role" json:"-"`
	Href           string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID             string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name           *string  `xml:"name,omitempty" json:"name,omitempty"`
	Description    *string  `xml:"description,omitempty" json:"description,omitempty"`
	Administrative *Bool    `xml:"administrative,omitempty" json:"administrative,omitempty"`
	Mutable        *Bool    `xml:"mutable,omitempty" json:"mutable,omitempty"`
	Permits        *Permits `xml:"permits,omitempty" json:"permits,omitempty"`
	Links          []Link   `xml:"link,omitempty" json:"link,omitempty"`
}

// Roles is a collection of roles.
type Roles struct {
	XMLName xml.Name `xml:"roles" json:"-"`
	Roles   []Role   `xml:"role" json:"role"`
}

// Permit is one action group of a role: its id is the action group's id,
// its name the lower-case group name (create_vm).
type Permit struct {
	XMLName        xml.Name `xml:"permit" json:"-"`
	Href           string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID             string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Name           *string  `xml:"name,omitempty" json:"name,omitempty"`
	Administrative *Bool    `xml:"administrative,omitempty" json:"administrative,omitempty"`
	Role           *Ref     `xml:"role,omitempty" json:"role,omitempty"`
}

// Permits is a collection of permits.
type Permits struct {
	XMLName xml.Name `xml:"permits" json:"-"`
	Permits []Permit `xml:"permit" json:"permit"`
}

// Permission grants a user a role on one object, which the element named
// after its type points at; a permission on the system has none.
type Permission struct {
	XMLName       xml.Name `xml:"permission" json:"-"`
	Href          string   `xml:"href,attr,omitempty" json:"href,omitempty"`
	ID            string   `xml:"id,attr,omitempty" json:"id,omitempty"`
	Role          *Role    `xml:"role,omitempty" json:"role,omitempty"`
	User          *User    `xml:"user,omitempty" json:"user,omitempty"`
	DataCenter    *Ref     `xml:"data_center,omitempty" json:"data_center,omitempty"`
	Cluster       *Ref     `xml:"cluster,omitempty" json:"cluster,omitempty"`
	Host          *Ref     `xml:"host,omitempty" json:"host,omitempty"`
	StorageDomain *Ref     `xml:"storage_domain,omitempty" json:"storage_domain,omitempty"`
	VM            *Ref     `xml:"vm,omitempty" json:"vm,omitempty"`
	Disk          *Ref     `xml:"disk,omitempty" json:"disk,omitempty"`
}

// Permissions is a collection of permissions.
type Permissions struct {
	XMLName     xml.Name     `xml:"permissions" json:"-"`
	Permissions []Permission `xml:"permission" json:"permission"`
}
