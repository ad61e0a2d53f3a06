// The kernel half of govirt's iSCSI guard: a SCSI command policy enforced
// on QEMU's own socket, as QEMU writes each PDU, before TCP sees the bytes.
//
// sockops puts every TCP connection this host opens to a guarded front
// port into the socks map when it is established (before its owner can
// send a byte). skmsg then reads every PDU the owner sends on it, in order:
// during the login only Login Requests pass; once the agent has read the
// target's final Login Response and armed the connection (conns, with the
// negotiated digests), a SCSI Command whose operation code the port's
// policy refuses leaves with 7Dh in its place (and its header digest
// recomputed), which every target answers with ILLEGAL REQUEST, INVALID
// COMMAND OPERATION CODE. Anything the program cannot follow is dropped:
// the write fails and the connection with it.
//
// Build: go generate ./internal/iscsi/sockguard (needs clang and libbpf-dev).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

#define BHS_LEN 48
#define MAX_AHS (255 * 4)
#define OP_LOGIN_REQ 0x03
#define OP_SCSI_CMD 0x01
#define REFUSED_OPCODE 0x7d

// A connection, as QEMU's socket sees it: its own address (IPv4 mapped
// into IPv6) and port, and the guarded front port it connected to.
struct conn_key {
	__u8 addr[16];
	__u16 lport;
	__u16 fport;
};

// A followed connection: what the login negotiated (written by the agent
// when it ends, with armed), and where the program is in the stream.
struct conn_state {
	__u8 header_digest;
	__u8 data_digest;
	__u8 armed;
	// mid_msg: the last run let part of its message go and the kernel
	// runs the program again on the rest of the same message.
	__u8 mid_msg;
	// remaining: bytes of the current PDU still to come in later writes.
	__u32 remaining;
};

// ops[code]: bit 0 the verdict for the operation code (1 allows); bits 1-2
// where its service action is, when the policy has rules for some of its
// service actions (1: CDB byte 1, bits 4..0; 2: bytes 8..9), 0 otherwise.
struct policy {
	__u32 gen;
	__u8 ops[256];
};

// A service-action rule of the policy of generation gen on fport.
struct sa_key {
	__u32 gen;
	__u16 fport;
	__u8 code;
	__u8 pad;
	__u16 sa;
	__u16 pad2;
};

struct counters {
	__u64 commands;
	__u64 refused;
	__u8 last_refused_cdb[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); // a reader never sees a policy half replaced
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct policy);
} policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct sa_key);
	__type(value, __u8);
} sarules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

// port reads a remote_port field (network order, shifted into the upper
// half on some kernels) as a number.
static __always_inline __u32 port(__u32 v)
{
	if (v > 0xffff)
		v >>= 16;
	return bpf_ntohs((__u16)v);
}

// read_ip6 reads an address field of a context 32 bits at a time, the
// only access the verifier allows (the compiler would merge the loads).
static __always_inline void read_ip6(__u32 *dst, const __u32 *src)
{
	dst[0] = *(volatile const __u32 *)&src[0];
	dst[1] = *(volatile const __u32 *)&src[1];
	dst[2] = *(volatile const __u32 *)&src[2];
	dst[3] = *(volatile const __u32 *)&src[3];
}

static __always_inline void fill_addr(struct conn_key *k, __u32 family, __u32 ip4, const __u32 *ip6)
{
	if (family == AF_INET) {
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		__builtin_memcpy(&k->addr[12], &ip4, 4);
	} else {
		__builtin_memcpy(&k->addr[0], ip6, 16);
	}
}

SEC("sockops")
int govirt_sockops(struct bpf_sock_ops *ops)
{
	__u32 op = ops->op;
	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	struct conn_key k = {};
	__u32 ip6[4];
	read_ip6(ip6, ops->local_ip6);
	fill_addr(&k, ops->family, ops->local_ip4, ip6);
	k.lport = ops->local_port;
	k.fport = port(ops->remote_port);
	if (op == BPF_SOCK_OPS_STATE_CB) {
		// A guarded connection closes: what its login negotiated goes.
		if (ops->args[1] == BPF_TCP_CLOSE)
			bpf_map_delete_elem(&conns, &k);
		return 1;
	}
	__u32 fport = k.fport;
	if (!bpf_map_lookup_elem(&policies, &fport))
		return 1;
	// A new connection starts in its login, whatever an earlier one with
	// the same ports negotiated.
	struct conn_state fresh = {};
	if (bpf_map_update_elem(&conns, &k, &fresh, BPF_ANY))
		return 1;
	bpf_sock_hash_update(ops, &socks, &k, BPF_ANY);
	bpf_sock_ops_cb_flags_set(ops, BPF_SOCK_OPS_STATE_CB_FLAG);
	return 1;
}

// crc_table drives crc32c: the iSCSI digest is CRC32C (Castagnoli,
// reflected polynomial 0x82f63b78); entry i is the remainder of byte i.
static const volatile __u32 crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

// crc_step adds one byte to a CRC32C in progress.
static __always_inline __u32 crc_step(__u32 crc, __u8 b)
{
	return crc_table[(crc ^ b) & 0xff] ^ (crc >> 8);
}

// byte_ptr points at the message's byte at off (NULL if there is none).
// Reaching one byte at a time never needs the kernel to copy elements of
// the message together (which bpf_msg_pull_data does for a longer range
// that spans two, and which has been seen to garble what follows): a
// byte lies in one element.
static __always_inline __u8 *byte_ptr(struct sk_msg_md *msg, __u32 off)
{
	if (bpf_msg_pull_data(msg, off, off + 1, 0))
		return NULL;
	__u8 *p = (void *)(long)msg->data;
	if ((void *)(p + 1) > (void *)(long)msg->data_end)
		return NULL;
	return p;
}

// byte_at reads the message's byte at off.
static __always_inline int byte_at(struct sk_msg_md *msg, __u32 off, __u8 *out)
{
	__u8 *p = byte_ptr(msg, off);
	if (!p)
		return -1;
	*out = *p;
	return 0;
}

// set_byte writes the message's byte at off.
static __always_inline int set_byte(struct sk_msg_md *msg, __u32 off, __u8 v)
{
	__u8 *p = byte_ptr(msg, off);
	if (!p)
		return -1;
	*p = v;
	return 0;
}

static __always_inline __u32 pad4(__u32 n) { return (n + 3) & ~3u; }

// decide says whether the policy allows the command whose CDB starts at cdb.
static __always_inline int decide(const struct policy *pol, __u32 fport, const __u8 *cdb)
{
	__u8 code = cdb[0];
	__u8 o = pol->ops[code];
	__u8 where = (o >> 1) & 3;
	if (where) {
		struct sa_key sk = {.gen = pol->gen, .fport = fport, .code = code};
		if (where == 1)
			sk.sa = cdb[1] & 0x1f;
		else
			sk.sa = ((__u16)cdb[8] << 8) | cdb[9];
		__u8 *v = bpf_map_lookup_elem(&sarules, &sk);
		if (v)
			return *v & 1;
	}
	return o & 1;
}

SEC("sk_msg")
int govirt_skmsg(struct sk_msg_md *msg)
{
	struct conn_key k = {};
	__u32 ip6[4];
	read_ip6(ip6, msg->local_ip6);
	fill_addr(&k, msg->family, msg->local_ip4, ip6);
	k.lport = msg->local_port;
	k.fport = port(msg->remote_port);
	__u32 fport = k.fport;

	struct policy *pol = bpf_map_lookup_elem(&policies, &fport);
	if (!pol)
		return SK_DROP; // the port is no longer guarded
	struct conn_state *st = bpf_map_lookup_elem(&conns, &k);
	if (!st)
		return SK_DROP;
	__u32 size = msg->size;
	int rerun = st->mid_msg;
	st->mid_msg = 0;

	// A verdict covers one PDU, and never more than the message at hand
	// (apply_bytes): the rest of a PDU written in later calls is let go as
	// it comes, counted down in remaining.
	if (st->remaining) {
		if (size <= st->remaining) {
			st->remaining -= size;
			bpf_msg_apply_bytes(msg, size);
			return SK_PASS;
		}
		bpf_msg_apply_bytes(msg, st->remaining);
		st->remaining = 0;
		st->mid_msg = 1;
		return SK_PASS;
	}
	// Each run starts at a PDU's first byte. A header not all written yet
	// is waited for (cork_bytes; the SK_DROP then only counts if the kernel
	// cannot wait), but only at the start of a write: after part of the
	// same write went, the kernel sends stale bytes in place of corked ones
	// (measured on 6.18), so there the write is refused.
	if (size < BHS_LEN) {
		if (rerun)
			return SK_DROP;
		bpf_msg_cork_bytes(msg, BHS_LEN);
		return SK_DROP;
	}
	// After a cork the kernel runs the program on the corked message and
	// keeps using it for what follows, with its cork_bytes still set: left
	// so, the rest of the PDU would be corked again and the program rerun
	// in its middle. Clear it.
	bpf_msg_cork_bytes(msg, 0);

	// The header, copied out: straight from the message's first element
	// when it holds it all (the usual case), else a byte at a time.
	__u8 h[BHS_LEN];
	__u8 *d = (void *)(long)msg->data;
	int direct = (void *)(d + BHS_LEN) <= (void *)(long)msg->data_end;
	if (direct) {
		__builtin_memcpy(h, d, BHS_LEN);
	} else {
		for (int i = 0; i < BHS_LEN; i++)
			if (byte_at(msg, i, &h[i]))
				return SK_DROP;
	}
	__u8 opcode = h[0] & 0x3f;
	__u32 ahs = (__u32)h[4] * 4;
	__u32 dsl = ((__u32)h[5] << 16) | ((__u32)h[6] << 8) | h[7];
	__u32 hd = 0, dd = 0;
	if (st->armed) {
		hd = st->header_digest ? 4 : 0;
		dd = st->data_digest && dsl ? 4 : 0;
	} else if (opcode != OP_LOGIN_REQ) {
		return SK_DROP; // only a login before the agent armed the connection
	}
	__u32 hdr = BHS_LEN + ahs + hd;
	__u32 whole = hdr + pad4(dsl) + dd;
	if (opcode == OP_SCSI_CMD && st->armed && size < hdr) {
		if (rerun)
			return SK_DROP;
		bpf_msg_cork_bytes(msg, hdr);
		return SK_DROP;
	}
	// The verdict below covers this PDU, or the part of it written so far.
	if (whole < size) {
		bpf_msg_apply_bytes(msg, whole);
		st->mid_msg = 1;
	} else {
		bpf_msg_apply_bytes(msg, size);
		st->remaining = whole - size;
	}
	if (opcode != OP_SCSI_CMD || !st->armed)
		return SK_PASS;

	struct counters *c = bpf_map_lookup_elem(&counters, &fport);
	if (c)
		__sync_fetch_and_add(&c->commands, 1);
	if (decide(pol, fport, &h[32]))
		return SK_PASS;
	if (c) {
		__sync_fetch_and_add(&c->refused, 1);
		__builtin_memcpy(c->last_refused_cdb, &h[32], 16);
	}
	h[32] = REFUSED_OPCODE;
	if (set_byte(msg, 32, REFUSED_OPCODE))
		return SK_DROP;
	if (!hd)
		return SK_PASS;
	// The header digest covers the BHS and the AHS.
	__u32 crc = 0xffffffff;
	for (int i = 0; i < BHS_LEN; i++)
		crc = crc_step(crc, h[i]);
	for (__u32 i = 0; i < MAX_AHS; i++) {
		if (i >= ahs)
			break;
		__u8 b;
		if (byte_at(msg, BHS_LEN + i, &b))
			return SK_DROP;
		crc = crc_step(crc, b);
	}
	crc = ~crc;
	__u32 off = BHS_LEN + ahs;
	if (set_byte(msg, off, crc) || set_byte(msg, off + 1, crc >> 8) ||
	    set_byte(msg, off + 2, crc >> 16) || set_byte(msg, off + 3, crc >> 24))
		return SK_DROP;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
