package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock key held while migrating
// (advisory locks are per database, so databases on one server do not
// contend).
const migrationLockID int64 = 0x676f76697274 // "govirt"

// unlocker releases a migration lock.
type unlocker func() error

// migrate brings the schema up to date. The lock around it covers goose's
// whole run, including the creation of its version table, so two engines
// starting at once on one database apply each migration once.
func (db *DB) migrate(ctx context.Context) error {
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s database: lock: %w", db.d.name, err)
	}
	defer func() {
		if err := unlock(); err != nil {
			db.log.Warn("releasing the migration lock", "error", err)
		}
	}()
	sqlFiles, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", db.d.name, err)
	}
	gooseDialect := goose.DialectSQLite3
	if db.d == postgresDialect {
		gooseDialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gooseDialect, db.write, sqlFiles,
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(auditLogMigration(db.d), generationMigration(db.d), authGenerationMigration(db.d)))
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", db.d.name, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", db.d.name, err)
	}
	for _, r := range results {
		db.log.LogAttrs(ctx, slog.LevelInfo, "applied migration",
			slog.Int64("version", r.Source.Version),
			slog.String("source", filepath.Base(r.Source.Path)),
			slog.Duration("took", r.Duration))
	}
	return nil
}

// auditLogMigration creates audit_log, whose auto-incrementing id is the one
// column SQLite and PostgreSQL spell differently. On SQLite, AUTOINCREMENT
// guarantees ids are never reused, so ListEvents' since never skips an
// event.
func auditLogMigration(d *dialect) *goose.Migration {
	create := `CREATE TABLE audit_log (
	id        ` + d.autoID + `,
	logged_at BIGINT NOT NULL,
	severity  TEXT NOT NULL,
	code      TEXT NOT NULL DEFAULT '',
	message   TEXT NOT NULL,
	user_name TEXT NOT NULL DEFAULT '',
	vm_id     TEXT NOT NULL DEFAULT '',
	disk_id   TEXT NOT NULL DEFAULT '',
	host_id   TEXT NOT NULL DEFAULT ''
)`
	return goose.NewGoMigration(2,
		&goose.GoFunc{RunTx: execDDL(create)},
		&goose.GoFunc{RunTx: execDDL("DROP TABLE audit_log")})
}

func execDDL(ddl string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, ddl)
		return err
	}
}

// lockFile serialises migrations on a SQLite database between processes
// with flock(2) on a file beside it: SQLite has no lock that outlives a
// transaction, and goose runs each migration in its own. The kernel drops
// the lock if the process dies. (Not the database file itself: closing any
// descriptor of it would drop SQLite's own POSIX locks.)
func lockFile(ctx context.Context, path string) (unlocker, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return nil, errors.Join(fmt.Errorf("flock %s: %w", path, err), f.Close())
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), f.Close())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() error {
		return errors.Join(syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
	}, nil
}

// lockAdvisory serialises migrations on a PostgreSQL database with a
// session advisory lock, held on a connection of its own for the duration.
// pg_advisory_lock waits in the server, without polling; the server drops
// the lock if the connection dies.
func lockAdvisory(ctx context.Context, pool *sql.DB) (unlocker, error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	return func() error {
		_, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockID)
		return errors.Join(err, conn.Close())
	}, nil
}
