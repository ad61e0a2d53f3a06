package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds a stmtCache. The store's statements are built from
// a fixed set of templates, so the bound is only a guard.
const maxCachedStmts = 256

// stmtCache keeps one pool's prepared statements, for SQLite: its driver
// parses every statement anew, and parsing was 40% of an engine command's
// CPU time when loading a VM with many disks (pgx caches statements per
// connection itself).
//
// A statement cannot be prepared on the pool while a transaction holds the
// pool's only connection (SQLite's write pool), so a statement first seen
// in a transaction runs unprepared there and is prepared before the next
// transaction begins; the transaction then binds it to its connection
// (sql.Tx.StmtContext), which prepares it once per connection.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	// stmts holds prepared statements by query text; a nil value marks a
	// query that failed to prepare and is never tried again.
	stmts   map[string]*sql.Stmt
	pending map[string]struct{}
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

// lookup returns the prepared statement for query, or nil; a miss queues
// query for prepare.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[query]
	if !ok && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = struct{}{}
	}
	return st
}

// prepare prepares the queued queries. It must not be called while the
// caller holds one of the pool's connections, and it does not hold the
// cache's mutex while it waits for one.
func (c *stmtCache) prepare(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
		delete(c.pending, q)
	}
	c.mu.Unlock()
	for _, q := range queries {
		st, err := c.pool.PrepareContext(ctx, q)
		if err != nil && ctx.Err() != nil {
			return // the query is queued again on its next use
		}
		// A statement SQLite refuses is stored as nil: it runs unprepared
		// and fails there, with the error its caller expects.
		c.mu.Lock()
		if _, ok := c.stmts[q]; ok {
			if st != nil {
				_ = st.Close() // another goroutine prepared it meanwhile
			}
		} else {
			c.stmts[q] = st
		}
		c.mu.Unlock()
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}
