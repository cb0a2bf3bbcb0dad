-- The ids devices give their messages (`message_id`), recorded in the same
-- transaction as what each message carried, so that a message delivered twice
-- (MQTT's at-least-once, a replayed backlog) is recognised and kept once.
-- Forgotten after the dedup window by the server's periodic purge.
CREATE TABLE device_message_ids (
    tenant_id   uuid NOT NULL,
    device_id   uuid NOT NULL,
    message_id  text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, device_id, message_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX device_message_ids_recorded ON device_message_ids (tenant_id, recorded_at);

GRANT SELECT, INSERT, DELETE ON device_message_ids TO gatehouse_app;
ALTER TABLE device_message_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_message_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_message_ids
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
