-- TOTP second factor: the secret sealed under the master key, the last time
-- step accepted (a code is good once), and single-use recovery codes by digest.
CREATE TABLE account_mfa (
    account_id     BLOB PRIMARY KEY REFERENCES accounts (id),
    secret_sealed  BLOB NOT NULL,
    confirmed_at   TEXT,
    last_used_step INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id BLOB NOT NULL REFERENCES accounts (id),
    code_hash  TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (account_id, code_hash)
);
