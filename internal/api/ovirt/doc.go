// Package ovirt holds the wire types of oVirt's REST API v4 for the
// resources govirt serves, with the element names, nesting, ids and hrefs of
// the public ovirt-engine-api-model, in XML and JSON. Optional fields are
// pointers so that "absent" (keep, or default) differs from "zero", as
// oVirt's backend treats them. JSON follows oVirt's: scalars are written as
// strings and read as strings or numbers.
package ovirt
