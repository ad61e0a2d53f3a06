package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/govirt/govirt/internal/store"
)

// generationMigration (version 6) adds vms.generation, which triggers bump
// on every change to a VM's device rows, its attachments, or the disks
// attached to it, in the writing transaction. A reader that saw a VM's rows
// at generation g knows they are unchanged while the generation is still
// g: the engine keeps its last view of a VM's rows and reloads them only
// when the number moved (internal/engine, vmcache.go). Triggers, not the
// store's methods, so that foreign-key cascades and other processes count
// too. The trigger syntax is the one part written twice.
func generationMigration(d *dialect) *goose.Migration {
	up := []string{"ALTER TABLE vms ADD COLUMN generation BIGINT NOT NULL DEFAULT 0"}
	down := []string{}
	if d == postgresDialect {
		up = append(up,
			`CREATE FUNCTION govirt_bump_vm_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		UPDATE vms SET generation = generation + 1 WHERE id = OLD.vm_id;
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.vm_id <> OLD.vm_id) THEN
		UPDATE vms SET generation = generation + 1 WHERE id = NEW.vm_id;
	END IF;
	RETURN NULL;
END $$`,
			`CREATE FUNCTION govirt_bump_disk_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE vms SET generation = generation + 1
		WHERE id IN (SELECT vm_id FROM disk_attachments WHERE disk_id = NEW.id);
	RETURN NULL;
END $$`,
			`CREATE TRIGGER vm_devices_generation AFTER INSERT OR UPDATE OR DELETE ON vm_devices
	FOR EACH ROW EXECUTE FUNCTION govirt_bump_vm_generation()`,
			`CREATE TRIGGER disk_attachments_generation AFTER INSERT OR UPDATE OR DELETE ON disk_attachments
	FOR EACH ROW EXECUTE FUNCTION govirt_bump_vm_generation()`,
			`CREATE TRIGGER disks_generation AFTER UPDATE ON disks
	FOR EACH ROW EXECUTE FUNCTION govirt_bump_disk_generation()`)
		down = append(down,
			"DROP TRIGGER disks_generation ON disks",
			"DROP TRIGGER disk_attachments_generation ON disk_attachments",
			"DROP TRIGGER vm_devices_generation ON vm_devices",
			"DROP FUNCTION govirt_bump_disk_generation()",
			"DROP FUNCTION govirt_bump_vm_generation()")
	} else {
		bump := func(row string) string {
			return "UPDATE vms SET generation = generation + 1 WHERE id = " + row + ".vm_id;"
		}
		for _, table := range []string{"vm_devices", "disk_attachments"} {
			up = append(up,
				fmt.Sprintf("CREATE TRIGGER %s_generation_insert AFTER INSERT ON %s BEGIN %s END", table, table, bump("NEW")),
				fmt.Sprintf("CREATE TRIGGER %s_generation_update AFTER UPDATE ON %s BEGIN %s %s END", table, table, bump("OLD"),
					"UPDATE vms SET generation = generation + 1 WHERE id = NEW.vm_id AND NEW.vm_id <> OLD.vm_id;"),
				fmt.Sprintf("CREATE TRIGGER %s_generation_delete AFTER DELETE ON %s BEGIN %s END", table, table, bump("OLD")))
			for _, op := range []string{"insert", "update", "delete"} {
				down = append(down, fmt.Sprintf("DROP TRIGGER %s_generation_%s", table, op))
			}
		}
		up = append(up, `CREATE TRIGGER disks_generation AFTER UPDATE ON disks BEGIN
	UPDATE vms SET generation = generation + 1
		WHERE id IN (SELECT vm_id FROM disk_attachments WHERE disk_id = NEW.id);
END`)
		down = append(down, "DROP TRIGGER disks_generation")
	}
	down = append(down, "ALTER TABLE vms DROP COLUMN generation")
	return goose.NewGoMigration(6,
		&goose.GoFunc{RunTx: execAll(up)},
		&goose.GoFunc{RunTx: execAll(down)})
}

func execAll(stmts []string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", strings.SplitN(s, "\n", 2)[0], err)
			}
		}
		return nil
	}
}

// VMGeneration returns the VM's generation (see generationMigration).
func (t *tx) VMGeneration(ctx context.Context, id string) (int64, error) {
	var g int64
	err := t.queryRow(ctx, func(s scanner) error { return s.Scan(&g) }, "SELECT generation FROM vms WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("generation of vm %s: %w", id, err)
	}
	return g, nil
}
