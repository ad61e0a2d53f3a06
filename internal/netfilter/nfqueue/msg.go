package nfqueue

import (
	"encoding/binary"
	"fmt"

	"github.com/govirt/govirt/internal/netfilter/nfnl"
	"golang.org/x/sys/unix"
)

// Wire constants of include/uapi/linux/netfilter/nfnetlink_queue.h and
// netfilter.h that golang.org/x/sys/unix does not define.
const (
	msgPacket  = 0 // NFQNL_MSG_PACKET
	msgVerdict = 1 // NFQNL_MSG_VERDICT
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1  // NFQA_PACKET_HDR
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCapLen     = 13 // NFQA_CAP_LEN
	attrSkbInfo    = 14 // NFQA_SKB_INFO

	cfgCmd    = 1 // NFQA_CFG_CMD
	cfgParams = 2 // NFQA_CFG_PARAMS
	cfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN
	cfgMask   = 4 // NFQA_CFG_MASK
	cfgFlags  = 5 // NFQA_CFG_FLAGS

	cmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	copyPacket = 2 // NFQNL_COPY_PACKET

	flagFailOpen = 1 // NFQA_CFG_F_FAIL_OPEN
	flagGSO      = 4 // NFQA_CFG_F_GSO

	skbCsumNotReady = 1 // NFQA_SKB_CSUMNOTREADY

	verdictDrop   = 0 // NF_DROP
	verdictAccept = 1 // NF_ACCEPT

	nlaHdrLen  = nfnl.AttrHeaderLen
	nfgenLen   = 4
	msgHdrLen  = nfnl.HeaderLen
	verdictLen = msgHdrLen + nlaHdrLen + 8 // header, nfgenmsg, NFQA_VERDICT_HDR
	maxCopy    = 0xffff - nlaHdrLen        // NFQNL_MAX_COPY_RANGE
)

// putHeader writes a netlink header and an nfgenmsg for the queue subsystem.
func putHeader(b []byte, length int, msgType uint8, flags uint16, seq uint32, queue uint16) {
	nfnl.PutHeader(b, length, nfnl.Type(unix.NFNL_SUBSYS_QUEUE, msgType), flags, seq, unix.AF_UNSPEC, queue)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// bindMessage is one NFQNL_MSG_CONFIG that binds the queue and sets every
// parameter at once (the kernel applies the command first, then the
// parameters, in the same call), so no packet is handed over in between
// with the default copy mode.
func bindMessage(seq uint32, queue uint16, maxLen uint32, gso bool) []byte {
	b := make([]byte, msgHdrLen, 128)
	b = nfnl.AppendAttr(b, cfgCmd, []byte{cmdBind, 0, 0, 0}) // command, pad, pf (unused since Linux 3.8)
	b = nfnl.AppendAttr(b, cfgParams, append(be32(maxCopy), copyPacket))
	b = nfnl.AppendAttr(b, cfgMaxLen, be32(maxLen))
	var flags uint32
	if gso {
		flags = flagGSO
	}
	b = nfnl.AppendAttr(b, cfgMask, be32(flagGSO|flagFailOpen)) // both are decided here
	b = nfnl.AppendAttr(b, cfgFlags, be32(flags))               // FAIL_OPEN stays off
	putHeader(b, len(b), msgConfig, unix.NLM_F_ACK, seq, queue)
	return b
}

// unbindMessage is the NFQNL_MSG_CONFIG that releases the queue.
func unbindMessage(seq uint32, queue uint16) []byte {
	b := make([]byte, msgHdrLen, 32)
	b = nfnl.AppendAttr(b, cfgCmd, []byte{cmdUnbind, 0, 0, 0})
	putHeader(b, len(b), msgConfig, unix.NLM_F_ACK, seq, queue)
	return b
}

// putVerdict writes the fixed part of one NFQNL_MSG_VERDICT into
// b[:verdictLen]; with a replacement of dataLen bytes the message grows by
// an NFQA_PAYLOAD attribute whose header is written here too (b must then
// hold verdictLen+nlaHdrLen bytes) and whose data the caller sends after it.
// It returns the length of the whole message, padding included.
func putVerdict(b []byte, seq uint32, queue uint16, id uint32, accept bool, withData bool, dataLen int) int {
	length := verdictLen
	if withData {
		length += nfnl.Align4(nlaHdrLen + dataLen)
	}
	putHeader(b, length, msgVerdict, 0, seq, queue)
	binary.NativeEndian.PutUint16(b[20:22], nlaHdrLen+8)
	binary.NativeEndian.PutUint16(b[22:24], attrVerdictHdr)
	v := uint32(verdictDrop)
	if accept {
		v = verdictAccept
	}
	binary.BigEndian.PutUint32(b[24:28], v)
	binary.BigEndian.PutUint32(b[28:32], id)
	if withData {
		binary.NativeEndian.PutUint16(b[32:34], uint16(nlaHdrLen+dataLen))
		binary.NativeEndian.PutUint16(b[34:36], attrPayload)
	}
	return length
}

// isPacket tells whether m is an NFQNL_MSG_PACKET.
func isPacket(m nfnl.Message) bool {
	return m.Type == nfnl.Type(unix.NFNL_SUBSYS_QUEUE, msgPacket)
}

// packetFields are the attributes of one NFQNL_MSG_PACKET this package uses.
type packetFields struct {
	id         uint32
	queue      uint16
	hasID      bool
	payload    []byte
	hasPayload bool
	capLen     uint32 // the packet's full length when the payload was cut short, else 0
	csumNotRdy bool
}

// parsePacket reads the attributes of an NFQNL_MSG_PACKET body.
func parsePacket(body []byte) (packetFields, error) {
	var p packetFields
	if len(body) < nfgenLen {
		return p, fmt.Errorf("queue packet message of %d bytes", len(body))
	}
	p.queue = binary.BigEndian.Uint16(body[2:4])
	err := nfnl.Attrs(body[nfgenLen:], func(typ uint16, v, _ []byte) error {
		switch typ {
		case attrPacketHdr:
			if len(v) < 4 {
				return fmt.Errorf("packet header attribute of %d bytes", len(v))
			}
			p.id, p.hasID = binary.BigEndian.Uint32(v[0:4]), true
		case attrPayload:
			p.payload, p.hasPayload = v, true
		case attrCapLen:
			if len(v) >= 4 {
				p.capLen = binary.BigEndian.Uint32(v[0:4])
			}
		case attrSkbInfo:
			if len(v) >= 4 {
				p.csumNotRdy = binary.BigEndian.Uint32(v[0:4])&skbCsumNotReady != 0
			}
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	if !p.hasID {
		return p, fmt.Errorf("queue packet message without a packet header")
	}
	return p, nil
}
