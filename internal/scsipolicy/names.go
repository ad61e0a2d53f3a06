package scsipolicy

// opNames names the operation codes of SPC-4 and SBC-3 (direct-access
// devices) that logs and rules mention.
var opNames = map[byte]string{
	0x00: "TEST UNIT READY",
	0x03: "REQUEST SENSE",
	0x04: "FORMAT UNIT",
	0x07: "REASSIGN BLOCKS",
	0x08: "READ(6)",
	0x0a: "WRITE(6)",
	0x12: "INQUIRY",
	0x15: "MODE SELECT(6)",
	0x16: "RESERVE(6)",
	0x17: "RELEASE(6)",
	0x1a: "MODE SENSE(6)",
	0x1b: "START STOP UNIT",
	0x1c: "RECEIVE DIAGNOSTIC RESULTS",
	0x1d: "SEND DIAGNOSTIC",
	0x1e: "PREVENT ALLOW MEDIUM REMOVAL",
	0x25: "READ CAPACITY(10)",
	0x28: "READ(10)",
	0x2a: "WRITE(10)",
	0x2e: "WRITE AND VERIFY(10)",
	0x2f: "VERIFY(10)",
	0x34: "PRE-FETCH(10)",
	0x35: "SYNCHRONIZE CACHE(10)",
	0x37: "READ DEFECT DATA(10)",
	0x3b: "WRITE BUFFER",
	0x3c: "READ BUFFER",
	0x3e: "READ LONG(10)",
	0x3f: "WRITE LONG(10)",
	0x41: "WRITE SAME(10)",
	0x42: "UNMAP",
	0x48: "SANITIZE",
	0x4c: "LOG SELECT",
	0x4d: "LOG SENSE",
	0x55: "MODE SELECT(10)",
	0x56: "RESERVE(10)",
	0x57: "RELEASE(10)",
	0x5a: "MODE SENSE(10)",
	0x5e: "PERSISTENT RESERVE IN",
	0x5f: "PERSISTENT RESERVE OUT",
	0x7f: "VARIABLE LENGTH",
	0x83: "EXTENDED COPY",
	0x84: "RECEIVE COPY RESULTS",
	0x85: "ATA PASS-THROUGH(16)",
	0x88: "READ(16)",
	0x89: "COMPARE AND WRITE",
	0x8a: "WRITE(16)",
	0x8e: "WRITE AND VERIFY(16)",
	0x8f: "VERIFY(16)",
	0x91: "SYNCHRONIZE CACHE(16)",
	0x93: "WRITE SAME(16)",
	0x94: "ZBC OUT",
	0x95: "ZBC IN",
	0x9e: "SERVICE ACTION IN(16)",
	0x9f: "SERVICE ACTION OUT(16)",
	0xa0: "REPORT LUNS",
	0xa1: "ATA PASS-THROUGH(12)",
	0xa2: "SECURITY PROTOCOL IN",
	0xa3: "MAINTENANCE IN",
	0xa4: "MAINTENANCE OUT",
	0xa8: "READ(12)",
	0xaa: "WRITE(12)",
	0xae: "WRITE AND VERIFY(12)",
	0xaf: "VERIFY(12)",
	0xb5: "SECURITY PROTOCOL OUT",
	0xb7: "READ DEFECT DATA(12)",
}

// saNames names the service actions rules most often single out.
var saNames = map[Op]string{
	{Code: 0x5e, HasSA: true, ServiceAction: 0x00}:   "PERSISTENT RESERVE IN/READ KEYS",
	{Code: 0x5e, HasSA: true, ServiceAction: 0x01}:   "PERSISTENT RESERVE IN/READ RESERVATION",
	{Code: 0x5e, HasSA: true, ServiceAction: 0x02}:   "PERSISTENT RESERVE IN/REPORT CAPABILITIES",
	{Code: 0x5e, HasSA: true, ServiceAction: 0x03}:   "PERSISTENT RESERVE IN/READ FULL STATUS",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x00}:   "PERSISTENT RESERVE OUT/REGISTER",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x01}:   "PERSISTENT RESERVE OUT/RESERVE",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x02}:   "PERSISTENT RESERVE OUT/RELEASE",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x03}:   "PERSISTENT RESERVE OUT/CLEAR",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x04}:   "PERSISTENT RESERVE OUT/PREEMPT",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x05}:   "PERSISTENT RESERVE OUT/PREEMPT AND ABORT",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x06}:   "PERSISTENT RESERVE OUT/REGISTER AND IGNORE EXISTING KEY",
	{Code: 0x5f, HasSA: true, ServiceAction: 0x07}:   "PERSISTENT RESERVE OUT/REGISTER AND MOVE",
	{Code: 0x7f, HasSA: true, ServiceAction: 0x000d}: "WRITE SAME(32)",
	{Code: 0x9e, HasSA: true, ServiceAction: 0x10}:   "READ CAPACITY(16)",
	{Code: 0x9e, HasSA: true, ServiceAction: 0x12}:   "GET LBA STATUS",
	{Code: 0xa3, HasSA: true, ServiceAction: 0x0a}:   "REPORT TARGET PORT GROUPS",
	{Code: 0xa3, HasSA: true, ServiceAction: 0x0c}:   "REPORT SUPPORTED OPERATION CODES",
	{Code: 0xa4, HasSA: true, ServiceAction: 0x0a}:   "SET TARGET PORT GROUPS",
}

// opByName maps normalized names (normName) to their Op for ParseOp.
var opByName = func() map[string]Op {
	m := make(map[string]Op, len(opNames)+len(saNames))
	for code, n := range opNames {
		m[normName(n)] = Op{Code: code}
	}
	for op, n := range saNames {
		m[normName(n)] = op
	}
	return m
}()
