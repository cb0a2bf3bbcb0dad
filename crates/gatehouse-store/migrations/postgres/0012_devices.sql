-- Devices and their MQTT credentials. The secret is kept only as its SHA-256
-- digest (256 random bits need no slow hash), in a table of its own without
-- row-level security: the broker finds a device by id before it knows the tenant.

CREATE TABLE devices (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    kind            text NOT NULL CHECK (kind IN ('controller', 'reader', 'lock', 'sensor', 'panel', 'camera', 'attendance_terminal')),
    name            text NOT NULL,
    model           text,
    serial          text,
    firmware        text,
    capabilities    jsonb NOT NULL,
    access_point_id uuid,
    zone_id         uuid,
    config          jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('online', 'offline', 'degraded')),
    last_seen       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, access_point_id) REFERENCES access_points (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX devices_serial_unique ON devices (tenant_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX devices_access_point ON devices (tenant_id, access_point_id);
CREATE INDEX devices_zone ON devices (tenant_id, zone_id);

CREATE TABLE device_secrets (
    device_id     uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    secret_sha256 bytea NOT NULL,
    issued_at     timestamptz NOT NULL,
    revoked_at    timestamptz,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON devices TO gatehouse_app;
ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON devices
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON device_secrets TO gatehouse_app;
