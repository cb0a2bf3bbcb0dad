-- Single-use password reset tokens, by digest, with a short life.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_resets_account ON password_resets (account_id);
