-- The ids devices give their messages (`message_id`), recorded in the same
-- transaction as what each message carried, so that a message delivered twice
-- (MQTT's at-least-once, a replayed backlog) is recognised and kept once.
-- Forgotten after the dedup window by the server's periodic purge.
CREATE TABLE device_message_ids (
    tenant_id   BLOB NOT NULL,
    device_id   BLOB NOT NULL,
    message_id  TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, message_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX device_message_ids_recorded ON device_message_ids (tenant_id, recorded_at);
