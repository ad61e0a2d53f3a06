-- +goose Up
-- A hot-plug or hot-unplug reserved but not yet confirmed by the host, and
-- the engine process that started it: after a crash the restarted engine
-- finishes or undoes it by what the live domain holds.
ALTER TABLE vm_devices ADD COLUMN pending_op TEXT NOT NULL DEFAULT '';
ALTER TABLE vm_devices ADD COLUMN pending_run TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE vm_devices DROP COLUMN pending_run;
ALTER TABLE vm_devices DROP COLUMN pending_op;
