// Package sqltest gives tests fresh databases of both kinds sqlstore
// supports, so that every package that persists runs its tests on SQLite and
// on PostgreSQL alike.
//
// SQLite databases are files in the test's temporary directory. PostgreSQL
// databases are created, one per call, on the server named by
// GOVIRT_TEST_PG_DSN (a URL whose database the tests may create databases
// from, e.g. postgres://postgres@/postgres?host=/run/postgresql) or, when it
// is unset, on a throwaway server this package starts once per test binary
// from Debian's postgresql package: initdb in a temporary directory, a unix
// socket only, fsync off. A missing PostgreSQL installation fails the test;
// it is never skipped.
//
// A package using Postgres or ForEach must call Main from its TestMain, so
// the server stops when the tests end:
//
//	func TestMain(m *testing.M) { sqltest.Main(m) }
package sqltest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// EnvDSN names the environment variable that points the tests at an
// existing PostgreSQL server instead of a throwaway one.
const EnvDSN = "GOVIRT_TEST_PG_DSN"

// mainCalled records that Main runs the tests, and so will stop the server.
var mainCalled atomic.Bool

// Main runs the package's tests, then stops the PostgreSQL server if one
// was started, and exits. Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if err := shutdown(); err != nil {
		os.Stderr.WriteString("sqltest: stopping PostgreSQL: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SQLite returns the DSN of a new, empty SQLite database file in the test's
// temporary directory.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "govirt.db")
}

// Postgres returns the DSN of a new, empty PostgreSQL database, dropped when
// the test ends. Databases are independent, so tests using them may run in
// parallel.
func Postgres(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("sqltest: call sqltest.Main(m) from this package's TestMain, so that the PostgreSQL server it starts is stopped")
	}
	s, err := server()
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	dsn, drop, err := s.createDatabase(t.Context(), "t_"+randomHex(8))
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("sqltest: %v", err)
		}
	})
	return dsn
}

// ForEach runs fn as two parallel subtests, "sqlite" and "postgres", each
// with the DSN of a fresh database.
func ForEach(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", SQLite}, {"postgres", Postgres}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.dsn(t))
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
