package pdu

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNegotiation: login text the codec cannot read unambiguously, such as a
// digest never answered or answered with an unknown value. A proxy must drop
// the connection rather than guess how the other end frames PDUs.
var ErrNegotiation = errors.New("iscsi: ambiguous login negotiation")

// KV is one key=value pair of login or text negotiation.
type KV struct {
	Key, Value string
}

// ParseText splits a complete text data segment (key=value pairs, each
// ended by a NUL) into pairs. A final pair without its NUL is accepted.
func ParseText(data []byte) ([]KV, error) {
	var kvs []KV
	for len(data) > 0 {
		item, rest, _ := bytes.Cut(data, []byte{0})
		data = rest
		if len(item) == 0 {
			continue // padding NULs
		}
		k, v, ok := bytes.Cut(item, []byte{'='})
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("%w: text item %q is not key=value", ErrNegotiation, item)
		}
		kvs = append(kvs, KV{string(k), string(v)})
	}
	return kvs, nil
}

// EncodeText joins pairs into a text data segment.
func EncodeText(kvs []KV) []byte {
	var b []byte
	for _, kv := range kvs {
		b = append(b, kv.Key...)
		b = append(b, '=')
		b = append(b, kv.Value...)
		b = append(b, 0)
	}
	return b
}

// Side is the end of a connection that sent some text.
type Side int

// The two ends.
const (
	Initiator Side = iota
	Target
)

// Params are the operational parameters a login negotiated that matter to
// whoever frames or forwards PDUs. Defaults are RFC 7143's.
type Params struct {
	HeaderDigest, DataDigest bool
	// MaxRecvDataSegmentLength by receiver: [Initiator] bounds what the
	// target sends, [Target] what the initiator sends.
	MaxRecvDataSegmentLength [2]uint32
	ImmediateData            bool
	InitialR2T               bool
	FirstBurstLength         uint32
	MaxBurstLength           uint32
	ErrorRecoveryLevel       uint32
}

// Negotiation follows the login text of one connection in both directions
// and tells the result. Text split across PDUs (the C bit) is joined first.
type Negotiation struct {
	partial [2][]byte
	// last value sent by each side, by key
	sent [2]map[string]string
	// order of the latest transmission of each key: which side sent last
	lastBy map[string]Side
}

// NewNegotiation starts following a login.
func NewNegotiation() *Negotiation {
	return &Negotiation{sent: [2]map[string]string{{}, {}}, lastBy: map[string]Side{}}
}

// maxLoginText bounds the text kept while a side continues it (C bit).
const maxLoginText = 64 << 10

// Add records the data segment of a Login PDU sent by from; cont is its C
// bit (the text goes on in the next PDU).
func (n *Negotiation) Add(from Side, data []byte, cont bool) error {
	n.partial[from] = append(n.partial[from], data...)
	if len(n.partial[from]) > maxLoginText {
		return fmt.Errorf("%w: login text over %d bytes", ErrNegotiation, maxLoginText)
	}
	if cont {
		return nil
	}
	kvs, err := ParseText(n.partial[from])
	n.partial[from] = n.partial[from][:0]
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		n.sent[from][kv.Key] = kv.Value
		n.lastBy[kv.Key] = from
	}
	return nil
}

// Params gives the negotiated parameters once the login is complete. The
// result of a negotiated key is the last value sent (RFC 7143 6.2); a digest
// offer the other side never answered, or a digest value other than None
// or CRC32C, is ErrNegotiation.
func (n *Negotiation) Params() (Params, error) {
	p := Params{
		MaxRecvDataSegmentLength: [2]uint32{8192, 8192},
		ImmediateData:            true,
		InitialR2T:               true,
		FirstBurstLength:         65536,
		MaxBurstLength:           262144,
	}
	var err error
	if p.HeaderDigest, err = n.digest("HeaderDigest"); err != nil {
		return p, err
	}
	if p.DataDigest, err = n.digest("DataDigest"); err != nil {
		return p, err
	}
	for side := range 2 {
		if v, ok := n.sent[side]["MaxRecvDataSegmentLength"]; ok {
			x, err := strconv.ParseUint(v, 10, 24)
			if err != nil || x < 512 {
				return p, fmt.Errorf("%w: MaxRecvDataSegmentLength=%q", ErrNegotiation, v)
			}
			p.MaxRecvDataSegmentLength[side] = uint32(x)
		}
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"ImmediateData", &p.ImmediateData}, {"InitialR2T", &p.InitialR2T}} {
		if v, ok := n.result(b.key); ok && (v == "Yes" || v == "No") {
			*b.dst = v == "Yes"
		}
	}
	for _, u := range []struct {
		key string
		dst *uint32
	}{{"FirstBurstLength", &p.FirstBurstLength}, {"MaxBurstLength", &p.MaxBurstLength}, {"ErrorRecoveryLevel", &p.ErrorRecoveryLevel}} {
		if v, ok := n.result(u.key); ok {
			if x, err := strconv.ParseUint(v, 10, 24); err == nil {
				*u.dst = uint32(x)
			}
		}
	}
	return p, nil
}

// result is the last value sent for a key by either side.
func (n *Negotiation) result(key string) (string, bool) {
	by, ok := n.lastBy[key]
	if !ok {
		return "", false
	}
	return n.sent[by][key], true
}

func (n *Negotiation) digest(key string) (bool, error) {
	_, fromI := n.sent[Initiator][key]
	_, fromT := n.sent[Target][key]
	if !fromI && !fromT {
		return false, nil
	}
	if fromI != fromT {
		return false, fmt.Errorf("%w: %s offered and never answered", ErrNegotiation, key)
	}
	v, _ := n.result(key)
	switch v {
	case "None", "Reject", "Irrelevant", "NotUnderstood":
		return false, nil
	case "CRC32C":
		return true, nil
	}
	if strings.Contains(v, ",") {
		return false, fmt.Errorf("%w: %s answered with a list %q", ErrNegotiation, key, v)
	}
	return false, fmt.Errorf("%w: %s=%q", ErrNegotiation, key, v)
}
