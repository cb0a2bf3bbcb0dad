-- The event log: everything that happens, typed (`door.forced`), numbered per tenant
-- from 1 (`event_seq`, kept in `event_heads` and moved in the transaction of every
-- append), for rules, alarms, notifications and the live stream to read in order.
-- Events written from another log (the access log's tailer) move that feed's position
-- in `event_feeds` in the same transaction, so each entry becomes one event, once.
CREATE TABLE events (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    event_seq       bigint NOT NULL,
    id              uuid NOT NULL,
    type            TEXT NOT NULL,
    site_id         uuid,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    source_kind     TEXT NOT NULL,
    source_id       TEXT,
    subject_kind    TEXT,
    subject_id      uuid,
    correlation_id  uuid,
    causation_id    uuid,
    payload_version INTEGER NOT NULL,
    -- JSON text.
    payload         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_seq)
);
CREATE INDEX events_type ON events (tenant_id, type, event_seq);
CREATE INDEX events_subject ON events (tenant_id, subject_id, event_seq);
CREATE INDEX events_occurred ON events (tenant_id, occurred_at);

CREATE TABLE event_heads (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    event_seq bigint NOT NULL
);

CREATE TABLE event_feeds (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    feed      TEXT NOT NULL,
    position  bigint NOT NULL,
    PRIMARY KEY (tenant_id, feed)
);

-- Events are appended, never changed by the server.
GRANT SELECT, INSERT ON events TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON event_heads, event_feeds TO gatehouse_app;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_heads
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE event_feeds ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_feeds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_feeds
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
