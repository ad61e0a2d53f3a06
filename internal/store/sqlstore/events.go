package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/govirt/govirt/internal/model"
)

var events = &table[model.AuditEvent]{
	what: "audit event",
	name: "audit_log",
	cols: []string{"id", "logged_at", "severity", "code", "message", "user_name", "vm_id", "disk_id", "host_id"},
	// The key is assigned by the database; InsertEvent leaves it out.
	nkeys:    1,
	orderSQL: "id DESC",
	values: func(e model.AuditEvent) []any {
		return []any{e.ID, micros(e.Time), e.Severity, e.Code, e.Message, e.User, e.VMID, e.DiskID, e.HostID}
	},
	scan: func(s scanner) (e model.AuditEvent, err error) {
		var at int64
		err = s.Scan(&e.ID, &at, &e.Severity, &e.Code, &e.Message, &e.User, &e.VMID, &e.DiskID, &e.HostID)
		e.Time = fromMicros(at)
		return e, err
	},
}

// InsertEvent appends e to the audit log and returns its id; a zero Time
// is now. On PostgreSQL ids come from a sequence, so a transaction that
// commits late can make an id appear below one a reader has already seen
// with ListEvents; on SQLite, writes are serialised and ids appear in order.
func (t *tx) InsertEvent(ctx context.Context, e model.AuditEvent) (int64, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	cols, vals := events.cols[1:], events.values(e)[1:] // without id
	var id int64
	err := t.queryRow(ctx, func(s scanner) error { return s.Scan(&id) },
		"INSERT INTO audit_log ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(cols))+") RETURNING id",
		vals...)
	if err != nil {
		return 0, fmt.Errorf("insert audit event: %w", err)
	}
	return id, nil
}

// ListEvents returns events newest first, at most max (0: all), only those
// with an id above since when since > 0.
func (t *tx) ListEvents(ctx context.Context, since int64, max int) ([]model.AuditEvent, error) {
	return events.list(ctx, t, "id > ?", max, since)
}
