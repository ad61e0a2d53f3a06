// Package proxy is an iSCSI proxy that enforces a SCSI command policy on
// the wire. The agent runs one per pass-through LUN on loopback and points
// QEMU at it; it forwards PDUs to the real target unchanged, except SCSI
// commands the policy refuses: those never reach the target. The proxy
// rewrites a refused command into TEST UNIT READY without data (same ITT,
// CmdSN and ExpStatSN, so sequence numbers stay intact), drops the data the
// initiator sends for it, and turns the target's answer into CHECK
// CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE with digests
// recomputed. The target still numbers every status (StatSN) itself.
//
// The wire logic (filter.go) is separate from the sockets (proxy.go) and is
// tested against a fake target; the real proof runs against tgtd in
// test/e2e.
package proxy
