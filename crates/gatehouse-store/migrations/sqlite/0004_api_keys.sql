-- API keys for integrations: a role in one tenant, stored as a SHA-256 digest.
CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    scope_kind   TEXT NOT NULL CHECK (scope_kind IN ('tenant', 'site', 'zone')),
    scope_id     BLOB,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT,
    UNIQUE (tenant_id, id),
    CHECK ((scope_kind = 'tenant') = (scope_id IS NULL))
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);
