-- Commands queued for devices. A device's queue is its rows with status
-- 'queued', sent highest priority first and in creation (id) order within one.

CREATE TABLE device_commands (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL,
    device_id   BLOB NOT NULL,
    kind        TEXT NOT NULL,
    params      TEXT NOT NULL,
    priority    INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 9),
    timeout_s   INTEGER NOT NULL CHECK (timeout_s BETWEEN 1 AND 3600),
    expires_at  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'acknowledged', 'failed', 'expired', 'timed_out')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     TEXT,
    finished_at TEXT,
    result      TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX device_commands_queue ON device_commands (tenant_id, device_id, status, priority DESC, id);
