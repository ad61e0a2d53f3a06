-- +goose Up
-- Custom SCSI command policies for pass-through LUNs (govirt's extension of
-- oVirt's sgio), and the policy a disk uses ('' = the built-in one its sgio
-- names). A policy in use cannot be removed: disks name it.
CREATE TABLE scsi_policies (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	base        TEXT NOT NULL,
	allow_rules TEXT NOT NULL DEFAULT '[]',
	deny_rules  TEXT NOT NULL DEFAULT '[]',
	created_at  BIGINT NOT NULL
);
ALTER TABLE disks ADD COLUMN scsi_policy TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE disks DROP COLUMN scsi_policy;
DROP TABLE scsi_policies;
