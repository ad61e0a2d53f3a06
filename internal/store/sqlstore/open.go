package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Connection settings.
const (
	// sqliteBusyTimeoutMS bounds how long a transaction waits for another
	// process's write lock before failing with SQLITE_BUSY.
	sqliteBusyTimeoutMS = 10000
	// sqliteReaders is the size of SQLite's read pool: WAL readers do not
	// block each other or the writer, and a few cover the API's concurrent
	// reads on a small machine.
	sqliteReaders = 4
	// postgresConns caps one engine's connections, so that several engines
	// (and tests running in parallel) stay below the server's
	// max_connections. Transactions waiting on LockVM each hold one.
	postgresConns = 16
)

// sqlitePragmas are applied by the driver on every new connection.
// synchronous=FULL fsyncs the WAL at each commit: a committed command
// survives a power cut. Foreign keys are off in SQLite unless asked for.
var sqlitePragmas = fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_synchronous=FULL", sqliteBusyTimeoutMS)

// open parses dsn and opens the pools without touching the schema.
func open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(strings.TrimPrefix(dsn, "sqlite:"), log)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, log)
	}
	return nil, fmt.Errorf("open database: unsupported DSN %q: want sqlite:PATH or postgres://…", redact(dsn))
}

func openSQLite(path string, log *slog.Logger) (*DB, error) {
	switch {
	case path == "":
		return nil, errors.New("open sqlite database: empty path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// An in-memory database is private to one connection, and the
		// read pool could not see what the write pool wrote.
		return nil, fmt.Errorf("open sqlite database %q: want a file path (use a file in a temporary directory for tests)", path)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("open sqlite database %q: path must not contain ? or #", path)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	// _txlock=immediate makes BEGIN take the write lock, so a transaction
	// never fails half-way with SQLITE_BUSY when it first writes; journal
	// mode WAL is a property of the file and lets readers run beside the
	// writer.
	write, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	read, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_query_only=1")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite database %s: %w", path, err), write.Close())
	}
	read.SetMaxOpenConns(sqliteReaders)
	read.SetMaxIdleConns(sqliteReaders)
	return &DB{
		d: sqliteDialect, log: log.With("db", "sqlite", "path", path), write: write, read: read,
		writeStmts: newStmtCache(write), readStmts: newStmtCache(read),
		lockMigrations: func(ctx context.Context) (unlocker, error) { return lockFile(ctx, path+".lock") },
	}, nil
}

func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres database %s: %w", redact(dsn), err)
	}
	pool.SetMaxOpenConns(postgresConns)
	pool.SetMaxIdleConns(postgresConns / 4)
	if err := pool.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open postgres database %s: %w", redact(dsn), err), pool.Close())
	}
	return &DB{
		d: postgresDialect, log: log.With("db", "postgres"), write: pool, read: pool,
		lockMigrations: func(ctx context.Context) (unlocker, error) { return lockAdvisory(ctx, pool) },
	}, nil
}

// redact hides a password in a URL-style DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
