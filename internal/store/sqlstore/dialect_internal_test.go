package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE a = ? AND b = ?", "SELECT a FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1"},
		{"SELECT 'it''s ?' , ? FROM t", "SELECT 'it''s ?' , $1 FROM t"},
		{"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
	} {
		if got := postgresDialect.rebind(c.in); got != c.want {
			t.Errorf("postgres rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := sqliteDialect.rebind(c.in); got != c.in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", c.in, got)
		}
	}
}

func TestLikePattern(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"vm", "vm"},
		{"vm*", "vm%"},
		{"*a*b*", "%a%b%"},
		{"50%_off!", "50!%!_off!!"},
		{"é*", "é%"},
	} {
		if got := likePattern(c.in); got != c.want {
			t.Errorf("likePattern(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
