package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/govirt/govirt/internal/store"
)

// table maps one entity type to one table. The generic methods below build
// every statement from it, so an entity's file holds only its columns and
// its conversions, and all entities behave alike (errors, ordering,
// not-found).
type table[T any] struct {
	what  string   // the entity, for errors: "storage domain"
	name  string   // the SQL table
	cols  []string // every column, the key columns first
	nkeys int      // how many leading cols form the key
	// nameCol is the column ListOptions.Name matches (empty: not listable
	// by name).
	nameCol string
	// order lists the text columns lists are sorted by.
	order []string
	// orderSQL, when set, is the ORDER BY list instead of order.
	orderSQL string
	// values returns v's column values in cols order.
	values func(v T) []any
	// scan reads one row selected with cols.
	scan func(s scanner) (T, error)
}

func (tb *table[T]) selectFrom() string {
	return "SELECT " + strings.Join(tb.cols, ", ") + " FROM " + tb.name
}

func (tb *table[T]) keyWhere() string {
	parts := make([]string, tb.nkeys)
	for i, c := range tb.cols[:tb.nkeys] {
		parts[i] = c + " = ?"
	}
	return strings.Join(parts, " AND ")
}

// describe names a row for errors: "vm 1234" or "vm device 1234/abcd".
func (tb *table[T]) describe(key []any) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprint(k)
	}
	return tb.what + " " + strings.Join(parts, "/")
}

func (tb *table[T]) get(ctx context.Context, t *tx, key ...any) (T, error) {
	var v T
	err := t.queryRow(ctx, func(s scanner) (err error) {
		v, err = tb.scan(s)
		return err
	}, tb.selectFrom()+" WHERE "+tb.keyWhere(), key...)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s: %w", tb.describe(key), err)
	}
	return v, nil
}

// list returns the rows matching where (all when empty), sorted, at most
// max of them (0: all). It never returns a nil slice, so that an empty list
// encodes as [] rather than null.
func (tb *table[T]) list(ctx context.Context, t *tx, where string, max int, args ...any) ([]T, error) {
	q := tb.selectFrom()
	if where != "" {
		q += " WHERE " + where
	}
	if tb.orderSQL != "" {
		q += " ORDER BY " + tb.orderSQL
	} else {
		q += " ORDER BY " + t.d.orderBy(tb.order...)
	}
	if max > 0 {
		q += " LIMIT ?"
		args = append(args, max)
	}
	out, err := tb.query(ctx, t, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", tb.what, err)
	}
	return out, nil
}

// query runs q, which selects tb's columns, and scans every row.
func (tb *table[T]) query(ctx context.Context, t *tx, q string, args ...any) ([]T, error) {
	out := []T{}
	err := t.queryRows(ctx, func(s scanner) error {
		v, err := tb.scan(s)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, q, args...)
	return out, err
}

// columnsOf is tb's column list qualified by a table alias, for joins.
func (tb *table[T]) columnsOf(alias string) string {
	return alias + "." + strings.Join(tb.cols, ", "+alias+".")
}

// listNamed implements store.ListOptions: * matches any run of characters,
// case-insensitively, as oVirt's search does; % and _ match themselves.
func (tb *table[T]) listNamed(ctx context.Context, t *tx, o store.ListOptions) ([]T, error) {
	if o.Name == "" {
		return tb.list(ctx, t, "", o.Max)
	}
	return tb.list(ctx, t, "lower("+tb.nameCol+") LIKE lower(?) ESCAPE '!'", o.Max, likePattern(o.Name))
}

// likePattern turns a * pattern into a LIKE pattern with ! as the escape
// character (a backslash would depend on PostgreSQL's
// standard_conforming_strings).
func likePattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '!', '%', '_':
			b.WriteByte('!')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (tb *table[T]) insert(ctx context.Context, t *tx, v T) error {
	return tb.insertWith(ctx, t, v, nil, nil)
}

// insertWith inserts v plus extra columns the model does not carry.
func (tb *table[T]) insertWith(ctx context.Context, t *tx, v T, extraCols []string, extraVals []any) error {
	vals := tb.values(v)
	cols := append(append([]string{}, tb.cols...), extraCols...)
	q := "INSERT INTO " + tb.name + " (" + strings.Join(cols, ", ") + ") VALUES (" + placeholders(len(cols)) + ")"
	if _, err := t.exec(ctx, q, append(vals, extraVals...)...); err != nil {
		return fmt.Errorf("insert %s: %w", tb.describe(vals[:tb.nkeys]), err)
	}
	return nil
}

// update writes every non-key column of the row with v's key.
func (tb *table[T]) update(ctx context.Context, t *tx, v T) error {
	vals := tb.values(v)
	sets := make([]string, 0, len(tb.cols)-tb.nkeys)
	for _, c := range tb.cols[tb.nkeys:] {
		sets = append(sets, c+" = ?")
	}
	args := append(append([]any{}, vals[tb.nkeys:]...), vals[:tb.nkeys]...)
	err := t.affectOne(ctx, "UPDATE "+tb.name+" SET "+strings.Join(sets, ", ")+" WHERE "+tb.keyWhere(), args...)
	if err != nil {
		return fmt.Errorf("update %s: %w", tb.describe(vals[:tb.nkeys]), err)
	}
	return nil
}

func (tb *table[T]) delete(ctx context.Context, t *tx, key ...any) error {
	if err := t.affectOne(ctx, "DELETE FROM "+tb.name+" WHERE "+tb.keyWhere(), key...); err != nil {
		return fmt.Errorf("delete %s: %w", tb.describe(key), err)
	}
	return nil
}

// placeholders returns "?, ?, …", n of them.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Column conversions shared by the entity files.

// micros stores a time as unix microseconds: an integer sorts and compares
// the same on both databases, with no time zone to get wrong.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros reads a time stored by micros, in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullIfEmpty stores an optional reference ("" in the model) as NULL, which
// foreign keys let through.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
