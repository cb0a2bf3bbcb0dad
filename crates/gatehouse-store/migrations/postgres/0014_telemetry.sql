-- Device telemetry: raw samples kept for days, one-minute and one-hour rollups
-- (min, max, sum, count) kept longer. Rollups are merged as batches arrive, so
-- a query never scans raw samples for a long range.

CREATE TABLE telemetry_raw (
    tenant_id uuid NOT NULL,
    device_id uuid NOT NULL,
    metric    text NOT NULL,
    at        timestamptz NOT NULL,
    value     double precision NOT NULL,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX telemetry_raw_series ON telemetry_raw (tenant_id, device_id, metric, at);
CREATE INDEX telemetry_raw_at ON telemetry_raw (at);

CREATE TABLE telemetry_1m (
    tenant_id uuid NOT NULL,
    device_id uuid NOT NULL,
    metric    text NOT NULL,
    bucket    timestamptz NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (tenant_id, device_id, metric, bucket),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE telemetry_1h (
    tenant_id uuid NOT NULL,
    device_id uuid NOT NULL,
    metric    text NOT NULL,
    bucket    timestamptz NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (tenant_id, device_id, metric, bucket),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON telemetry_raw, telemetry_1m, telemetry_1h TO gatehouse_app;
ALTER TABLE telemetry_raw ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_raw FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON telemetry_raw
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE telemetry_1m ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_1m FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON telemetry_1m
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE telemetry_1h ENABLE ROW LEVEL SECURITY;
ALTER TABLE telemetry_1h FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON telemetry_1h
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
