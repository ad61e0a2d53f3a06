// Package domxml turns a vmspec.VM into libvirt domain XML and reads live
// domain XML back. It is pure (no libvirt connection, no file I/O): the agent
// decides nothing here, it only renders what the engine decided.
package domxml
