-- Devices and their MQTT credentials. The secret is kept only as its SHA-256
-- digest (256 random bits need no slow hash), in a table of its own: the
-- broker finds a device by id before it knows the tenant.

CREATE TABLE devices (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id),
    kind            TEXT NOT NULL CHECK (kind IN ('controller', 'reader', 'lock', 'sensor', 'panel', 'camera', 'attendance_terminal')),
    name            TEXT NOT NULL,
    model           TEXT,
    serial          TEXT,
    firmware        TEXT,
    -- A JSON array of strings.
    capabilities    TEXT NOT NULL,
    access_point_id BLOB,
    zone_id         BLOB,
    -- The kind's settings, defaults filled in (JSON object).
    config          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('online', 'offline', 'degraded')),
    last_seen       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, access_point_id) REFERENCES access_points (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX devices_serial_unique ON devices (tenant_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX devices_access_point ON devices (tenant_id, access_point_id);
CREATE INDEX devices_zone ON devices (tenant_id, zone_id);

CREATE TABLE device_secrets (
    device_id     BLOB PRIMARY KEY,
    tenant_id     BLOB NOT NULL,
    secret_sha256 BLOB NOT NULL,
    issued_at     TEXT NOT NULL,
    revoked_at    TEXT,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
