-- API keys for integrations: a role in one tenant, stored as a SHA-256 digest.
-- Looked up by digest before the tenant is known, so, like sessions, a
-- platform-level table: every other query names the tenant.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    role         text NOT NULL,
    scope_kind   text NOT NULL CHECK (scope_kind IN ('tenant', 'site', 'zone')),
    scope_id     uuid,
    prefix       text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    UNIQUE (tenant_id, id),
    CHECK ((scope_kind = 'tenant') = (scope_id IS NULL))
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);
GRANT SELECT, INSERT, UPDATE ON api_keys TO gatehouse_app;
