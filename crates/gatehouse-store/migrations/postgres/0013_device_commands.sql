-- Commands queued for devices. A device's queue is its rows with status
-- 'queued', sent highest priority first and in creation (id) order within one.

CREATE TABLE device_commands (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    device_id   uuid NOT NULL,
    kind        text NOT NULL,
    params      jsonb NOT NULL,
    priority    integer NOT NULL CHECK (priority BETWEEN 0 AND 9),
    timeout_s   integer NOT NULL CHECK (timeout_s BETWEEN 1 AND 3600),
    expires_at  timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'sent', 'acknowledged', 'failed', 'expired', 'timed_out')),
    attempts    integer NOT NULL DEFAULT 0,
    sent_at     timestamptz,
    finished_at timestamptz,
    result      jsonb,
    error       text,
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX device_commands_queue ON device_commands (tenant_id, device_id, status, priority DESC, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON device_commands TO gatehouse_app;
ALTER TABLE device_commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_commands FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_commands
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
