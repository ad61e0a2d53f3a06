package sqlstore

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"
)

// authGenerationMigration (version 10) adds auth_generation, one number
// that triggers bump on every change to users, roles, their action groups
// and permissions, and on every token revoked or changed (issuing one does
// not: a token nobody has seen cannot be in anyone's cache). The API keeps
// what it read about a caller as of a generation and reads it again only
// when the number moved; triggers, not the store's methods, so that
// cascades and other processes (the CLI, a second engine) count too.
func authGenerationMigration(d *dialect) *goose.Migration {
	up := []string{
		"CREATE TABLE auth_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)",
		"INSERT INTO auth_generation (id, generation) VALUES (1, 0)",
	}
	down := []string{}
	events := map[string][]string{
		"users":              {"INSERT", "UPDATE", "DELETE"},
		"roles":              {"INSERT", "UPDATE", "DELETE"},
		"role_action_groups": {"INSERT", "UPDATE", "DELETE"},
		"permissions":        {"INSERT", "UPDATE", "DELETE"},
		"tokens":             {"UPDATE", "DELETE"},
	}
	const bump = "UPDATE auth_generation SET generation = generation + 1 WHERE id = 1"
	if d == postgresDialect {
		up = append(up, `CREATE FUNCTION govirt_bump_auth_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	`+bump+`;
	RETURN NULL;
END $$`)
	}
	for _, table := range []string{"users", "roles", "role_action_groups", "permissions", "tokens"} {
		for _, ev := range events[table] {
			name := fmt.Sprintf("%s_auth_generation_%s", table, ev)
			if d == postgresDialect {
				up = append(up, fmt.Sprintf("CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION govirt_bump_auth_generation()", name, ev, table))
				down = append(down, fmt.Sprintf("DROP TRIGGER %s ON %s", name, table))
			} else {
				up = append(up, fmt.Sprintf("CREATE TRIGGER %s AFTER %s ON %s BEGIN %s; END", name, ev, table, bump))
				down = append(down, "DROP TRIGGER "+name)
			}
		}
	}
	if d == postgresDialect {
		down = append(down, "DROP FUNCTION govirt_bump_auth_generation()")
	}
	down = append(down, "DROP TABLE auth_generation")
	return goose.NewGoMigration(10,
		&goose.GoFunc{RunTx: execAll(up)},
		&goose.GoFunc{RunTx: execAll(down)})
}

// AuthGeneration returns the number auth_generation keeps (see
// authGenerationMigration).
func (t *tx) AuthGeneration(ctx context.Context) (int64, error) {
	var g int64
	err := t.queryRow(ctx, func(s scanner) error { return s.Scan(&g) }, "SELECT generation FROM auth_generation WHERE id = 1")
	if err != nil {
		return 0, fmt.Errorf("auth generation: %w", err)
	}
	return g, nil
}
