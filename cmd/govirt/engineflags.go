package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/store/sqlstore"
)

// dbFlags locate the engine's database; `govirt engine` and the offline
// admin commands (config, user) share them.
type dbFlags struct {
	db       string
	stateDir string
}

func (f *dbFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", "/var/lib/govirt", "the engine's state directory")
	fs.StringVar(&f.db, "db", "", "database: sqlite:PATH or postgres://… (default: sqlite:STATE-DIR/engine.db)")
}

func (f *dbFlags) dsn() string {
	if f.db != "" {
		return f.db
	}
	return "sqlite:" + filepath.Join(f.stateDir, "engine.db")
}

// openStore opens (and migrates) the database, creating the state dir for
// SQLite.
func (f *dbFlags) openStore(ctx context.Context, log *slog.Logger) (*sqlstore.DB, error) {
	dsn := f.dsn()
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	return sqlstore.Open(ctx, dsn, log)
}

// openEngine builds an engine without hosts, for offline administration.
func (f *dbFlags) openEngine(ctx context.Context, log *slog.Logger) (*engine.Engine, func(), error) {
	st, err := f.openStore(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	return engine.New(engine.Deps{Store: st, Log: log}), func() { st.Close() }, nil
}
