package guard

// Edit rewrites a packet's TCP payload in place: Data replaces the bytes
// at Off.
type Edit struct {
	Off  int
	Data []byte
}

// Verdict is what becomes of one queued packet: dropped, or passed with
// its payload rewritten by Edits (none: unchanged).
type Verdict struct {
	ID    uint32
	Drop  bool
	Edits []Edit
}

// Dir is the direction of a segment on the connection.
type Dir int

// The two directions.
const (
	FromInitiator Dir = iota
	FromTarget
)

func (d Dir) String() string {
	if d == FromTarget {
		return "from target"
	}
	return "from initiator"
}

// Bounds of what one direction keeps.
const (
	// maxHeld is how many packets may wait for a header that spans them: a
	// header is at most 1,072 bytes, so even one byte a segment (and some
	// retransmissions) fits. TCP makes a handful.
	maxHeld = 2048
	// maxEdits is how many rewrites are kept for retransmissions. Edits
	// happen only to refused commands; an older retransmission is dropped
	// (TCP sends it again, and again, so a connection that needs one stalls
	// rather than passes a command unrewritten).
	maxEdits = 1024
)

// stream is one direction of a connection as a byte stream: where its
// bytes start in sequence space, how far it has been read, the packets
// whose verdict waits and the rewrites made so far, by stream offset.
type stream struct {
	started bool
	base    uint32 // sequence number of stream offset 0
	next    uint64 // first stream offset not yet read

	held  []held
	edits []edit // in stream order
	floor uint64 // rewrites below this offset are forgotten

	// the PDU being read (conn.go)
	pduStart uint64 // stream offset of its header
	hdr      []byte // header bytes gathered so far
	need     int    // header length once known; 0: between PDUs
	skip     uint64 // data segment bytes (padding, digest) still to pass
	dsl      int    // its data segment length
	gather   bool   // its data is login text, kept in text
	text     []byte
	login    struct{ cont, ends bool }
	// done: the direction is no longer followed (the target's side once
	// the full feature phase starts); everything passes.
	done bool
}

type held struct {
	id   uint32
	a, b uint64 // stream offsets [a, b)
}

type edit struct {
	off  uint64
	data []byte
}

// offset places a sequence number in the stream, relative to what has been
// read (sequence numbers wrap at 32 bits; a window is far smaller). ok is
// false for a sequence number before the stream's start.
func (s *stream) offset(seq uint32) (uint64, bool) {
	delta := int64(int32(seq - s.base - uint32(s.next)))
	off := int64(s.next) + delta
	if off < 0 {
		return 0, false
	}
	return uint64(off), true
}

// frontier is the stream offset below which every byte is decided: the
// start of a header still being gathered, else everything read.
func (s *stream) frontier() uint64 {
	if s.need > 0 {
		return s.pduStart
	}
	return s.next
}

// addEdit records a rewrite at a stream offset.
func (s *stream) addEdit(off uint64, data []byte) {
	if len(s.edits) == maxEdits {
		old := s.edits[0]
		s.floor = old.off + uint64(len(old.data))
		s.edits = append(s.edits[:0], s.edits[1:]...)
	}
	s.edits = append(s.edits, edit{off: off, data: data})
}

// editsIn returns the rewrites of the stream bytes [a, b), relative to a.
func (s *stream) editsIn(a, b uint64) []Edit {
	var out []Edit
	for _, e := range s.edits {
		end := e.off + uint64(len(e.data))
		if end <= a || e.off >= b {
			continue
		}
		lo, hi := max(e.off, a), min(end, b)
		out = append(out, Edit{Off: int(lo - a), Data: e.data[lo-e.off : hi-e.off]})
	}
	return out
}

// release appends the verdicts of the held packets that are wholly
// decided now.
func (s *stream) release(out []Verdict) []Verdict {
	f := s.frontier()
	keep := s.held[:0]
	for _, h := range s.held {
		if h.b <= f {
			out = append(out, Verdict{ID: h.id, Edits: s.editsIn(h.a, h.b)})
		} else {
			keep = append(keep, h)
		}
	}
	s.held = keep
	return out
}

// dropHeld appends a drop verdict for every held packet.
func (s *stream) dropHeld(out []Verdict) []Verdict {
	for _, h := range s.held {
		out = append(out, Verdict{ID: h.id, Drop: true})
	}
	s.held = s.held[:0]
	return out
}
