-- Users, roles, permissions and access tokens. internal/authz gives them
-- their meaning; the schema keeps them consistent: one user per (name,
-- domain), unique role names, one grant of a role to a user per object, and
-- no permission, action group or token left behind by a deleted user or
-- role (ON DELETE CASCADE).
--
-- permissions.object_id is not a foreign key, because objects live in
-- several tables; system permissions use oVirt's fixed system object id.
-- Tokens are stored as the hex SHA-256 of the token, never the token.

-- +goose Up
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	domain        TEXT NOT NULL,
	namespace     TEXT NOT NULL DEFAULT '',
	email         TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    BIGINT NOT NULL,
	CONSTRAINT users_name_domain_key UNIQUE (name, domain)
);

CREATE TABLE roles (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL CONSTRAINT roles_name_key UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	administrative BOOLEAN NOT NULL,
	read_only      BOOLEAN NOT NULL DEFAULT FALSE
);

-- action_group is oVirt's action group id (1105 is CONFIGURE_SCSI_GENERIC_IO).
CREATE TABLE role_action_groups (
	role_id      TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
	action_group INTEGER NOT NULL,
	PRIMARY KEY (role_id, action_group)
);

CREATE TABLE permissions (
	id          TEXT PRIMARY KEY,
	user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role_id     TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
	object_type TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	CONSTRAINT permissions_grant_key UNIQUE (user_id, role_id, object_type, object_id),
	CONSTRAINT permissions_object_type_check CHECK (object_type IN
		('system', 'data_center', 'cluster', 'host', 'storage_domain', 'vm', 'disk'))
);
CREATE INDEX permissions_object ON permissions (object_type, object_id);
CREATE INDEX permissions_role ON permissions (role_id);

CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX tokens_expires ON tokens (expires_at);

-- +goose Down
DROP TABLE tokens;
DROP TABLE permissions;
DROP TABLE role_action_groups;
DROP TABLE roles;
DROP TABLE users;
