-- govirt's schema. One file for SQLite and PostgreSQL: TEXT ids, INTEGER and
-- BIGINT numbers, BOOLEAN flags, TEXT JSON, BIGINT timestamps in unix
-- microseconds (UTC). audit_log, whose id column cannot be written portably,
-- is created by the Go migration 2 (migrate.go).
--
-- The database enforces what must never break, whatever the engine does:
-- unique names, foreign keys, one attachment per (VM, disk), a non-shareable
-- disk on at most one VM, and unique drive addresses and target devices
-- among one VM's plugged devices.

-- +goose Up
CREATE TABLE data_centers (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL CONSTRAINT data_centers_name_key UNIQUE,
	description   TEXT NOT NULL DEFAULT '',
	version_major INTEGER NOT NULL,
	version_minor INTEGER NOT NULL
);

CREATE TABLE clusters (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL CONSTRAINT clusters_name_key UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	data_center_id TEXT NOT NULL REFERENCES data_centers (id) ON DELETE RESTRICT,
	version_major  INTEGER NOT NULL,
	version_minor  INTEGER NOT NULL
);
CREATE INDEX clusters_data_center ON clusters (data_center_id);

CREATE TABLE hosts (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL CONSTRAINT hosts_name_key UNIQUE,
	address    TEXT NOT NULL,
	cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
	status     TEXT NOT NULL
);
CREATE INDEX hosts_cluster ON hosts (cluster_id);

CREATE TABLE storage_domains (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL CONSTRAINT storage_domains_name_key UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	data_center_id TEXT NOT NULL REFERENCES data_centers (id) ON DELETE RESTRICT,
	path           TEXT NOT NULL
);
CREATE INDEX storage_domains_data_center ON storage_domains (data_center_id);

-- host_id is where the VM runs. Deleting a host that still runs VMs is
-- refused (not SET NULL): a live domain must never lose track of its host.
-- The engine clears host_id when a VM goes down.
CREATE TABLE vms (
	id                       TEXT PRIMARY KEY,
	name                     TEXT NOT NULL CONSTRAINT vms_name_key UNIQUE,
	description              TEXT NOT NULL DEFAULT '',
	cluster_id               TEXT NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
	template_id              TEXT NOT NULL DEFAULT '',
	os_type                  TEXT NOT NULL DEFAULT '',
	memory_bytes             BIGINT NOT NULL,
	vcpus                    INTEGER NOT NULL,
	status                   TEXT NOT NULL,
	host_id                  TEXT REFERENCES hosts (id) ON DELETE RESTRICT,
	io_threads               INTEGER NOT NULL DEFAULT 0,
	virtio_scsi_multi_queues INTEGER NOT NULL DEFAULT 0,
	kernel                   TEXT NOT NULL DEFAULT '',
	initrd                   TEXT NOT NULL DEFAULT '',
	cmdline                  TEXT NOT NULL DEFAULT '',
	created_at               BIGINT NOT NULL
);
CREATE INDEX vms_cluster ON vms (cluster_id);
CREATE INDEX vms_host ON vms (host_id);

-- An image disk lives in a storage domain; a LUN disk has the lun_* columns
-- (lun_id NULL for images) and no domain. A LUN backs at most one disk.
-- UNIQUE (id, shareable) is the target of disk_attachments' composite
-- foreign key.
CREATE TABLE disks (
	id                TEXT PRIMARY KEY,
	alias             TEXT NOT NULL,
	description       TEXT NOT NULL DEFAULT '',
	storage_type      TEXT NOT NULL,
	format            TEXT NOT NULL DEFAULT '',
	provisioned_size  BIGINT NOT NULL DEFAULT 0,
	storage_domain_id TEXT REFERENCES storage_domains (id) ON DELETE RESTRICT,
	status            TEXT NOT NULL DEFAULT '',
	lun_id            TEXT CONSTRAINT disks_lun_id_key UNIQUE,
	lun_address       TEXT NOT NULL DEFAULT '',
	lun_port          INTEGER NOT NULL DEFAULT 0,
	lun_target        TEXT NOT NULL DEFAULT '',
	lun_mapping       INTEGER NOT NULL DEFAULT 0,
	lun_serial        TEXT NOT NULL DEFAULT '',
	lun_vendor        TEXT NOT NULL DEFAULT '',
	lun_product       TEXT NOT NULL DEFAULT '',
	lun_size          BIGINT NOT NULL DEFAULT 0,
	shareable         BOOLEAN NOT NULL,
	sgio              TEXT NOT NULL DEFAULT '',
	propagate_errors  BOOLEAN NOT NULL DEFAULT FALSE,
	created_at        BIGINT NOT NULL,
	CONSTRAINT disks_id_shareable_key UNIQUE (id, shareable),
	CONSTRAINT disks_kind_check CHECK (
		(storage_type = 'image' AND storage_domain_id IS NOT NULL AND lun_id IS NULL AND sgio = '')
		OR (storage_type = 'lun' AND storage_domain_id IS NULL AND lun_id IS NOT NULL))
);
CREATE INDEX disks_storage_domain ON disks (storage_domain_id);

-- disk_shareable mirrors disks.shareable through the composite foreign key
-- (ON UPDATE CASCADE), so the partial unique index below can see it: a
-- non-shareable disk has at most one attachment, and making a disk
-- non-shareable while two VMs use it fails on that index.
CREATE TABLE disk_attachments (
	vm_id                 TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
	disk_id               TEXT NOT NULL,
	disk_shareable        BOOLEAN NOT NULL,
	interface             TEXT NOT NULL,
	bootable              BOOLEAN NOT NULL DEFAULT FALSE,
	pass_discard          BOOLEAN NOT NULL DEFAULT FALSE,
	read_only             BOOLEAN NOT NULL DEFAULT FALSE,
	uses_scsi_reservation BOOLEAN NOT NULL DEFAULT FALSE,
	active                BOOLEAN NOT NULL DEFAULT FALSE,
	logical_name          TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (vm_id, disk_id),
	CONSTRAINT disk_attachments_disk_fkey FOREIGN KEY (disk_id, disk_shareable)
		REFERENCES disks (id, shareable) ON UPDATE CASCADE ON DELETE RESTRICT
);
CREATE UNIQUE INDEX disk_attachments_exclusive ON disk_attachments (disk_id) WHERE NOT disk_shareable;
CREATE INDEX disk_attachments_disk ON disk_attachments (disk_id, disk_shareable);

-- A device's drive address is all four columns or none. Among one VM's
-- plugged devices an address and a target device name are unique; unplugged
-- rows keep theirs so that a replug can reuse them.
CREATE TABLE vm_devices (
	vm_id      TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	type       TEXT NOT NULL,
	device     TEXT NOT NULL,
	controller INTEGER,
	bus        INTEGER,
	target     INTEGER,
	unit       INTEGER,
	target_dev TEXT NOT NULL DEFAULT '',
	alias      TEXT NOT NULL DEFAULT '',
	plugged    BOOLEAN NOT NULL,
	managed    BOOLEAN NOT NULL,
	boot_order INTEGER NOT NULL DEFAULT 0,
	spec       TEXT,
	PRIMARY KEY (vm_id, id),
	CONSTRAINT vm_devices_address_check CHECK (
		(controller IS NULL AND bus IS NULL AND target IS NULL AND unit IS NULL)
		OR (controller IS NOT NULL AND bus IS NOT NULL AND target IS NOT NULL AND unit IS NOT NULL))
);
CREATE UNIQUE INDEX vm_devices_plugged_address ON vm_devices (vm_id, controller, bus, target, unit)
	WHERE plugged AND controller IS NOT NULL;
CREATE UNIQUE INDEX vm_devices_plugged_target_dev ON vm_devices (vm_id, target_dev)
	WHERE plugged AND target_dev <> '';

-- Engine configuration per compatibility version, like oVirt's vdc_options.
CREATE TABLE config_values (
	name       TEXT NOT NULL,
	version    TEXT NOT NULL,
	value      TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (name, version)
);

-- +goose Down
DROP TABLE config_values;
DROP TABLE vm_devices;
DROP TABLE disk_attachments;
DROP TABLE disks;
DROP TABLE vms;
DROP TABLE storage_domains;
DROP TABLE hosts;
DROP TABLE clusters;
DROP TABLE data_centers;
