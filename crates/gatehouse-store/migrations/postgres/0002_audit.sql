-- The admin audit trail. Written in the same transaction as each change;
-- append-only for the server's role, and tenant-isolated by row-level security
-- (platform entries, with no tenant, are visible only with no tenant set).
CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    tenant_id    uuid,
    at           timestamptz NOT NULL,
    actor_kind   text NOT NULL,
    actor_id     uuid,
    actor_label  text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text,
    before_state jsonb,
    after_state  jsonb,
    request_id   text,
    source       text
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = gatehouse_current_tenant() OR (tenant_id IS NULL AND gatehouse_current_tenant() IS NULL))
    WITH CHECK (tenant_id = gatehouse_current_tenant() OR (tenant_id IS NULL AND gatehouse_current_tenant() IS NULL));

GRANT SELECT, INSERT ON audit_log TO gatehouse_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM gatehouse_app;
