-- The admin audit trail. Written in the same transaction as each change;
-- append-only: the triggers refuse to change or remove an entry.
CREATE TABLE audit_log (
    id           BLOB PRIMARY KEY,
    tenant_id    BLOB,
    at           TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     BLOB,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT,
    before_state TEXT,
    after_state  TEXT,
    request_id   TEXT,
    source       TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are immutable');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are immutable');
END;
