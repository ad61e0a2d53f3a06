// Package api serves govirt's oVirt-compatible REST API under
// /ovirt-engine/api, in XML (the default) and JSON. One route table names the
// handler and the action group each method and path needs; errors become
// oVirt faults in one place (fault.go), with the status of each message's
// kind and never a 5xx for bad input.
package api
