// Package guard enforces a SCSI command policy on an iSCSI connection from
// inside the kernel's packet path, without a second TCP hop.
//
// QEMU connects straight to the target's address on a per-disk front port;
// the kernel rewrites that to the real portal (DNAT) and hands the agent,
// through an NFQUEUE, only the packets that carry bytes from the initiator
// (commands, and Data-Out) and those of the login from the target. Data-In
// never leaves the kernel: the read path costs what the direct path costs.
//
// A packet can only be passed, dropped or rewritten in place (same length,
// so TCP's sequence numbers stay true). A command the policy refuses has its
// operation code replaced with one that SPC leaves reserved (refusedOpcode)
// and its header digest recomputed: the target itself answers it CHECK
// CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE, and the
// refused command never reaches the LUN. Everything the guard cannot follow
// (a gap it cannot fill, a header it cannot parse, a login it did not see
// end, a redirect to another portal) stops the connection: it fails closed.
//
// Conn (conn.go, stream.go) is the wire logic of one TCP connection, pure and
// table-tested; Guard (guard.go) runs it on a queue.
package guard
