package scsipolicy

// filteredOps is the filtered policy: the commands Linux let a process that
// opened a block device send through SG_IO without CAP_SYS_RAWIO, read on a
// direct-access (SBC) LUN. Source: Linux block/scsi_ioctl.c,
// blk_set_cmd_filter_defaults() (2.6.25 to 5.12), whose read_ok and write_ok
// tables became the switch in scsi_cmd_allowed() (5.13 on, now
// drivers/scsi/scsi_ioctl.c). docs/SCSI-POLICY.md lists the table and the
// entries govirt leaves out (MMC opcodes that mean something else on a disk,
// FORMAT UNIT, WRITE SAME, WRITE LONG(2)).
var filteredOps = []Op{
	// Linux's read-safe commands that exist on a disk.
	{Code: 0x00}, // TEST UNIT READY
	{Code: 0x03}, // REQUEST SENSE
	{Code: 0x08}, // READ(6)
	{Code: 0x28}, // READ(10)
	{Code: 0xa8}, // READ(12)
	{Code: 0x88}, // READ(16)
	{Code: 0x3c}, // READ BUFFER
	{Code: 0x37}, // READ DEFECT DATA(10)
	{Code: 0x25}, // READ CAPACITY(10)
	{Code: 0x3e}, // READ LONG(10)
	{Code: 0x12}, // INQUIRY
	{Code: 0x1a}, // MODE SENSE(6)
	{Code: 0x5a}, // MODE SENSE(10)
	{Code: 0x4d}, // LOG SENSE
	{Code: 0x1b}, // START STOP UNIT
	{Code: 0x2f}, // VERIFY(10)
	{Code: 0x8f}, // VERIFY(16)
	{Code: 0xa0}, // REPORT LUNS
	{Code: 0x9e}, // SERVICE ACTION IN(16): READ CAPACITY(16), GET LBA STATUS
	{Code: 0x1c}, // RECEIVE DIAGNOSTIC RESULTS
	{Code: 0xa3}, // MAINTENANCE IN: REPORT TARGET PORT GROUPS, REPORT SUPPORTED OPERATION CODES
	{Code: 0x95}, // ZBC IN
	// Linux's write commands (allowed when the device is open for writing,
	// which a read-write pass-through disk is).
	{Code: 0x0a}, // WRITE(6)
	{Code: 0x2a}, // WRITE(10)
	{Code: 0xaa}, // WRITE(12)
	{Code: 0x8a}, // WRITE(16)
	{Code: 0x2e}, // WRITE AND VERIFY(10)
	{Code: 0xae}, // WRITE AND VERIFY(12)
	{Code: 0x3f}, // WRITE LONG(10)
	{Code: 0x15}, // MODE SELECT(6)
	{Code: 0x55}, // MODE SELECT(10)
	{Code: 0x4c}, // LOG SELECT
	{Code: 0x35}, // SYNCHRONIZE CACHE(10) (Linux: GPCMD_FLUSH_CACHE)
	{Code: 0x1e}, // PREVENT ALLOW MEDIUM REMOVAL
	{Code: 0x94}, // ZBC OUT
	// Added by govirt: the 16-byte form of a command Linux allows, which
	// guests use on LUNs past 2 TiB.
	{Code: 0x91}, // SYNCHRONIZE CACHE(16)
}
