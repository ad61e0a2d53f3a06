package scsipolicy

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Stats counts what an enforcer of a policy (the agent's iSCSI proxy or
// its inline guard) saw on one disk since it started.
type Stats struct {
	Connections uint64 // initiator connections seen
	Commands    uint64 // SCSI commands seen
	Refused     uint64 // SCSI commands refused
	// LastRefused is the last refused command (zero Op when none).
	LastRefused Op
}

// RefusalLog logs refused commands, at most one line a second per
// connection, so that a guest cannot flood the agent's log.
type RefusalLog struct {
	log        *slog.Logger
	last       time.Time
	suppressed int
}

// NewRefusalLog logs to log (one per connection).
func NewRefusalLog(log *slog.Logger) *RefusalLog { return &RefusalLog{log: log} }

// Refused logs a refused command unless one was logged less than a second
// ago; extra are more slog attributes (the command's tag, say).
func (l *RefusalLog) Refused(d Decision, lun uint64, policy string, extra ...any) {
	now := time.Now()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return
	}
	args := append([]any{"command", d.Op.Name(), "op", d.Op.String(), "policy", policy,
		"reason", d.Reason, "lun", lun >> 48 & 0x3fff, "not_logged_before", l.suppressed}, extra...)
	l.log.Warn("SCSI command refused", args...)
	l.last, l.suppressed = now, 0
}

// Counters keep an enforcer's Stats; safe for concurrent use.
type Counters struct {
	connections, commands, refused atomic.Uint64
	lastRefused                    atomic.Pointer[Op]
}

// Connection counts an initiator connection.
func (c *Counters) Connection() { c.connections.Add(1) }

// Command counts a decided SCSI command and reports whether it was
// refused.
func (c *Counters) Command(d Decision) (refused bool) {
	c.commands.Add(1)
	if d.Allow {
		return false
	}
	c.refused.Add(1)
	op := d.Op
	c.lastRefused.Store(&op)
	return true
}

// Stats reads the counters.
func (c *Counters) Stats() Stats {
	s := Stats{Connections: c.connections.Load(), Commands: c.commands.Load(), Refused: c.refused.Load()}
	if op := c.lastRefused.Load(); op != nil {
		s.LastRefused = *op
	}
	return s
}
