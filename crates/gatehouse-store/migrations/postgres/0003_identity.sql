-- Identity: accounts (platform-level: one login may hold roles in several
-- tenants), their role assignments, sessions with rotating refresh tokens, and
-- the token signing keys (private halves encrypted with the master key).

CREATE TABLE accounts (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL UNIQUE,
    display_name        text,
    password_hash       text,
    status              text NOT NULL CHECK (status IN ('active', 'disabled')),
    password_changed_at timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE role_assignments (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    -- NULL for platform roles, which hold in every tenant.
    tenant_id   uuid REFERENCES tenants (id),
    role        text NOT NULL,
    scope_kind  text NOT NULL CHECK (scope_kind IN ('tenant', 'site', 'zone')),
    scope_id    uuid,
    valid_from  timestamptz,
    valid_until timestamptz,
    created_at  timestamptz NOT NULL,
    CHECK ((scope_kind = 'tenant') = (scope_id IS NULL))
);
CREATE INDEX role_assignments_account ON role_assignments (account_id);
CREATE INDEX role_assignments_tenant ON role_assignments (tenant_id, account_id);

CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES accounts (id),
    tenant_id          uuid REFERENCES tenants (id),
    refresh_hash       text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text,
    ip                 text,
    user_agent         text
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_tenant ON sessions (tenant_id);

-- Refresh tokens already exchanged: presenting one again means it was stolen.
CREATE TABLE retired_refresh_tokens (
    refresh_hash text PRIMARY KEY,
    session_id   uuid NOT NULL REFERENCES sessions (id),
    retired_at   timestamptz NOT NULL
);

CREATE TABLE signing_keys (
    kid                   text PRIMARY KEY,
    algorithm             text NOT NULL,
    public_key            bytea NOT NULL,
    private_key_encrypted bytea NOT NULL,
    created_at            timestamptz NOT NULL,
    -- Set when replaced: the key signs nothing new, and is published until its tokens expire.
    retired_at            timestamptz
);

-- Identity tables are platform-level (an account spans tenants); every query
-- names the account or tenant it is for. The server role may not erase the
-- evidence of retired refresh tokens.
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, role_assignments, sessions, signing_keys TO gatehouse_app;
GRANT SELECT, INSERT ON retired_refresh_tokens TO gatehouse_app;
REVOKE UPDATE, DELETE ON retired_refresh_tokens FROM gatehouse_app;
