-- Identity: accounts (platform-level: one login may hold roles in several
-- tenants), their role assignments, sessions with rotating refresh tokens, and
-- the token signing keys (private halves encrypted with the master key).

CREATE TABLE accounts (
    id                  BLOB PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    display_name        TEXT,
    password_hash       TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_changed_at TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE role_assignments (
    id          BLOB PRIMARY KEY,
    account_id  BLOB NOT NULL REFERENCES accounts (id),
    -- NULL for platform roles, which hold in every tenant.
    tenant_id   BLOB REFERENCES tenants (id),
    role        TEXT NOT NULL,
    scope_kind  TEXT NOT NULL CHECK (scope_kind IN ('tenant', 'site', 'zone')),
    scope_id    BLOB,
    valid_from  TEXT,
    valid_until TEXT,
    created_at  TEXT NOT NULL,
    CHECK ((scope_kind = 'tenant') = (scope_id IS NULL))
);
CREATE INDEX role_assignments_account ON role_assignments (account_id);
CREATE INDEX role_assignments_tenant ON role_assignments (tenant_id, account_id);

CREATE TABLE sessions (
    id                 BLOB PRIMARY KEY,
    account_id         BLOB NOT NULL REFERENCES accounts (id),
    tenant_id          BLOB REFERENCES tenants (id),
    refresh_hash       TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    revoked_at         TEXT,
    revoked_reason     TEXT,
    ip                 TEXT,
    user_agent         TEXT
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_tenant ON sessions (tenant_id);

-- Refresh tokens already exchanged: presenting one again means it was stolen.
CREATE TABLE retired_refresh_tokens (
    refresh_hash TEXT PRIMARY KEY,
    session_id   BLOB NOT NULL REFERENCES sessions (id),
    retired_at   TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid                   TEXT PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    public_key            BLOB NOT NULL,
    private_key_encrypted BLOB NOT NULL,
    created_at            TEXT NOT NULL,
    -- Set when replaced: the key signs nothing new, and is published until its tokens expire.
    retired_at            TEXT
);
