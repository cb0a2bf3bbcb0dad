-- The event log: everything that happens, typed (`door.forced`), numbered per tenant
-- from 1 (`event_seq`, kept in `event_heads` and moved in the transaction of every
-- append), for rules, alarms, notifications and the live stream to read in order.
-- Events written from another log (the access log's tailer) move that feed's position
-- in `event_feeds` in the same transaction, so each entry becomes one event, once.
CREATE TABLE events (
    tenant_id       BLOB NOT NULL REFERENCES tenants (id),
    event_seq       INTEGER NOT NULL,
    id              BLOB NOT NULL,
    type            TEXT NOT NULL,
    site_id         BLOB,
    occurred_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    source_kind     TEXT NOT NULL,
    source_id       TEXT,
    subject_kind    TEXT,
    subject_id      BLOB,
    correlation_id  BLOB,
    causation_id    BLOB,
    payload_version INTEGER NOT NULL,
    -- JSON text.
    payload         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_seq)
);
CREATE INDEX events_type ON events (tenant_id, type, event_seq);
CREATE INDEX events_subject ON events (tenant_id, subject_id, event_seq);
CREATE INDEX events_occurred ON events (tenant_id, occurred_at);

CREATE TABLE event_heads (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants (id),
    event_seq INTEGER NOT NULL
);

CREATE TABLE event_feeds (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    feed      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, feed)
);
