-- TOTP second factor: the secret sealed under the master key, the last time
-- step accepted (a code is good once), and single-use recovery codes by digest.
CREATE TABLE account_mfa (
    account_id     uuid PRIMARY KEY REFERENCES accounts (id),
    secret_sealed  bytea NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL
);

CREATE TABLE recovery_codes (
    account_id uuid NOT NULL REFERENCES accounts (id),
    code_hash  text NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, code_hash)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON account_mfa, recovery_codes TO gatehouse_app;
