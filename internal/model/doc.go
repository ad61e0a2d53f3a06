// Package model holds govirt's domain types and enums, named as oVirt names
// them (DiskInterface, ScsiGenericIO, VmDevice …) so that the engine, the
// store and the REST API share one vocabulary. It has no behaviour beyond
// parsing and printing its enums and no dependencies on I/O.
package model
