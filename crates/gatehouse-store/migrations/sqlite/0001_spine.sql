-- Spine: platform settings, tenants, the physical layout and people.
-- Ids are UUIDv7 stored as 16-byte blobs; timestamps are RFC 3339 text in UTC.
-- Every tenant-owned table carries tenant_id, and every reference between them
-- is a composite foreign key that includes tenant_id, so no row can point into
-- another tenant even if application code were wrong.

CREATE TABLE platform_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE tenants (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sites (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    time_zone  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX sites_name_unique ON sites (tenant_id, lower(name));

CREATE TABLE zones (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL,
    site_id    BLOB NOT NULL,
    parent_id  BLOB,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('building', 'floor', 'area', 'parking', 'other')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, site_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    -- A parent is in the same tenant and the same site.
    FOREIGN KEY (tenant_id, site_id, parent_id) REFERENCES zones (tenant_id, site_id, id)
);
CREATE UNIQUE INDEX zones_name_unique ON zones (tenant_id, site_id, coalesce(parent_id, x''), lower(name));
CREATE INDEX zones_parent ON zones (tenant_id, parent_id);

CREATE TABLE units (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL,
    zone_id    BLOB NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX units_name_unique ON units (tenant_id, zone_id, lower(name));

CREATE TABLE access_points (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL,
    zone_id    BLOB NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('door', 'gate', 'barrier', 'turnstile', 'elevator_floor')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX access_points_name_unique ON access_points (tenant_id, zone_id, lower(name));

CREATE TABLE people (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('resident', 'employee', 'staff', 'visitor')),
    first_name  TEXT NOT NULL,
    last_name   TEXT,
    email       TEXT,
    phone       TEXT,
    unit_id     BLOB,
    external_id TEXT,
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, unit_id) REFERENCES units (tenant_id, id)
);
CREATE UNIQUE INDEX people_email_unique ON people (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX people_external_id_unique ON people (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX people_unit ON people (tenant_id, unit_id);

-- Responses remembered for POST requests that carried an Idempotency-Key.
-- scope names the caller and tenant, so keys of different callers never collide.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    body         BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
