-- +goose Up
-- A live migration in progress: its destination host and the engine
-- process running it, so that a restarted engine settles an interrupted one
-- by where the hosts report the VM.
ALTER TABLE vms ADD COLUMN migrating_to TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN migration_run TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE vms DROP COLUMN migration_run;
ALTER TABLE vms DROP COLUMN migrating_to;
