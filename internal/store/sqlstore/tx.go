package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/govirt/govirt/internal/store"
)

// tx is one transaction. Every statement goes through exec, query or
// queryRow, which rebind placeholders, map driver errors and record the
// first failure (see ErrAborted).
type tx struct {
	sql      *sql.Tx
	d        *dialect
	readOnly bool
	// stmts caches the pool's prepared statements (nil: none, PostgreSQL).
	stmts *stmtCache
	// aborted is the first database error of the transaction; once set,
	// every statement fails with ErrAborted.
	aborted error
}

var _ store.Tx = (*tx)(nil)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// fail maps a driver error and remembers it as the transaction's first.
// sql.ErrNoRows is an answer, not a failure, and leaves the transaction
// usable, as it does on PostgreSQL.
func (t *tx) fail(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	err = t.d.mapErr(err)
	if t.aborted == nil {
		t.aborted = err
	}
	return err
}

func (t *tx) check() error {
	if t.aborted != nil {
		return fmt.Errorf("%w (%v)", ErrAborted, t.aborted)
	}
	return nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	query = t.d.rebind(query)
	if st := t.stmts.lookup(query); st != nil {
		txst := t.sql.StmtContext(ctx, st)
		defer txst.Close() // the prepared statement stays in the cache
		res, err := txst.ExecContext(ctx, args...)
		return res, t.fail(err)
	}
	res, err := t.sql.ExecContext(ctx, query, args...)
	return res, t.fail(err)
}

// queryRow runs a query expected to return at most one row and scans it
// with scan; no row is sql.ErrNoRows.
func (t *tx) queryRow(ctx context.Context, scan func(scanner) error, query string, args ...any) error {
	if err := t.check(); err != nil {
		return err
	}
	query = t.d.rebind(query)
	if st := t.stmts.lookup(query); st != nil {
		txst := t.sql.StmtContext(ctx, st)
		defer txst.Close()
		return t.fail(scan(txst.QueryRowContext(ctx, args...)))
	}
	return t.fail(scan(t.sql.QueryRowContext(ctx, query, args...)))
}

// queryRows runs a query and scans each row with scan.
func (t *tx) queryRows(ctx context.Context, scan func(scanner) error, query string, args ...any) error {
	if err := t.check(); err != nil {
		return err
	}
	query = t.d.rebind(query)
	var rows *sql.Rows
	var err error
	if st := t.stmts.lookup(query); st != nil {
		txst := t.sql.StmtContext(ctx, st)
		defer txst.Close()
		rows, err = txst.QueryContext(ctx, args...)
	} else {
		rows, err = t.sql.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return t.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return t.fail(err)
		}
	}
	return t.fail(rows.Err())
}

// affectOne runs a statement that must change exactly one row: none is
// store.ErrNotFound.
func (t *tx) affectOne(ctx context.Context, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// LockVM serialises commands on one VM: on PostgreSQL it locks the VM's row
// until the transaction ends; on SQLite the transaction already holds the
// database's write lock. In a View it only checks that the VM exists.
func (t *tx) LockVM(ctx context.Context, id string) error {
	query := t.d.lockVM
	if t.readOnly {
		query = vmExists // PostgreSQL takes no row locks in a read-only transaction
	}
	var got string
	err := t.queryRow(ctx, func(s scanner) error { return s.Scan(&got) }, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("lock vm %s: %w", id, err)
	}
	return nil
}
