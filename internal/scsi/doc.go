// Package scsi holds govirt's pure SCSI logic: typed drive addresses, the
// kernel's device naming scheme and QEMU's virtio-scsi limits. It does no I/O,
// so the engine (which decides addresses) and the agent (which only renders
// them) share one definition that is table-tested in isolation.
package scsi
