-- A tenant's own roles. Assignments and API keys name a role; a name that is
-- not a built-in role is looked up here, in the assignment's tenant. Names
-- never change, so a role in use cannot be deleted (checked in the same
-- transaction as the delete).
CREATE TABLE roles (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    description TEXT,
    inherits    TEXT,
    -- A JSON array of permission codes.
    permissions TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX role_assignments_role ON role_assignments (tenant_id, role);
CREATE INDEX api_keys_role ON api_keys (tenant_id, role);
