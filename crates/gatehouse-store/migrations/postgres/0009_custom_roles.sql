-- A tenant's own roles. Assignments and API keys name a role; a name that is
-- not a built-in role is looked up here, in the assignment's tenant. Names
-- never change, so a role in use cannot be deleted (checked in the same
-- transaction as the delete).
CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    description text,
    inherits    text,
    -- A JSON array of permission codes.
    permissions jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX role_assignments_role ON role_assignments (tenant_id, role);
CREATE INDEX api_keys_role ON api_keys (tenant_id, role);
GRANT SELECT, INSERT, UPDATE, DELETE ON roles TO gatehouse_app;
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
