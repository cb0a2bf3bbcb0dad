-- Single-use password reset tokens, by digest, with a short life.
CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_account ON password_resets (account_id);
GRANT SELECT, INSERT, UPDATE ON password_resets TO gatehouse_app;
