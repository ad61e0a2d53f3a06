-- +goose Up
-- The media a CD-ROM device holds: "<storage domain id>/<file>", or empty.
ALTER TABLE vm_devices ADD COLUMN media TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE vm_devices DROP COLUMN media;
