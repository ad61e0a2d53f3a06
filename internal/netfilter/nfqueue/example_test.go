package nfqueue_test

import (
	"errors"
	"log/slog"

	"github.com/govirt/govirt/internal/netfilter/nfqueue"
	"github.com/govirt/govirt/internal/netfilter/tcpip"
)

// A guard's loop: read, judge, give every packet a verdict; rewrite bytes
// in place with tcpip.Rewrite, which keeps the TCP checksum right.
func Example() {
	q, err := nfqueue.Open(20000)
	if err != nil {
		slog.Error("open queue", "err", err)
		return
	}
	defer q.Close() // from another goroutine, Close also ends the loop
	for {
		p, err := q.Read()
		switch {
		case errors.Is(err, nfqueue.ErrClosed):
			return
		case errors.Is(err, nfqueue.ErrOverrun), errors.Is(err, nfqueue.ErrRejected):
			slog.Warn("queue", "err", err) // packets lost: TCP retransmits them
			continue
		case err != nil:
			slog.Error("queue", "err", err)
			return
		}
		seg, err := tcpip.Parse(p.Data)
		if err != nil {
			q.Verdict(p.ID, false, nil) // not what the rule queues: refuse
			continue
		}
		payload := seg.Payload(p.Data)
		if len(payload) > 0 && payload[0] == 0x01 { // say, an opcode to change
			if err := tcpip.Rewrite(p.Data, seg, 0, []byte{0x02}, p.ChecksumNotReady); err != nil {
				q.Verdict(p.ID, false, nil)
				continue
			}
			q.Verdict(p.ID, true, p.Data)
			continue
		}
		q.Verdict(p.ID, true, nil)
	}
}
