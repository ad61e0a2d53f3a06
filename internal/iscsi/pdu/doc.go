// Package pdu encodes and decodes iSCSI protocol data units (RFC 7143): the
// 48-byte basic header segment, additional header segments (the extended CDB
// AHS for CDBs longer than 16 bytes), CRC32C header and data digests, data
// segment padding, and the login text that negotiates them. It does no
// network I/O beyond reading PDUs from an io.Reader, so the iSCSI proxy and
// its tests share one definition of the wire format.
package pdu
