-- Device telemetry: raw samples kept for days, one-minute and one-hour rollups
-- (min, max, sum, count) kept longer. Rollups are merged as batches arrive, so
-- a query never scans raw samples for a long range.

CREATE TABLE telemetry_raw (
    tenant_id BLOB NOT NULL,
    device_id BLOB NOT NULL,
    metric    TEXT NOT NULL,
    at        TEXT NOT NULL,
    value     REAL NOT NULL,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX telemetry_raw_series ON telemetry_raw (tenant_id, device_id, metric, at);
CREATE INDEX telemetry_raw_at ON telemetry_raw (at);

CREATE TABLE telemetry_1m (
    tenant_id BLOB NOT NULL,
    device_id BLOB NOT NULL,
    metric    TEXT NOT NULL,
    bucket    TEXT NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, device_id, metric, bucket),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE telemetry_1h (
    tenant_id BLOB NOT NULL,
    device_id BLOB NOT NULL,
    metric    TEXT NOT NULL,
    bucket    TEXT NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, device_id, metric, bucket),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
