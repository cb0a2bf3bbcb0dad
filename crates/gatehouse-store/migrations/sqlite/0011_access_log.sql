-- The access log: every access decision, door-mode change and lockdown, in each
-- tenant's own hash chain (see gatehouse_access::chain). Appended in batches by
-- group commit, in the same transaction as the chain's head below.
--
-- Append-only: the triggers refuse to change or remove an entry. The chain is
-- what makes tampering by someone who can write the file anyway evident.
-- The ids of doors, people and credentials are plain columns, not references:
-- the log outlives what it mentions.
CREATE TABLE access_log (
    tenant_id       BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    id              BLOB NOT NULL,
    -- RFC 3339 text to the microsecond (the hash covers the microseconds).
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    access_point_id BLOB,
    person_id       BLOB,
    credential_id   BLOB,
    credential_kind TEXT,
    direction       TEXT,
    granted         INTEGER,
    reason          TEXT,
    door_action     TEXT,
    -- JSON text, kept byte for byte as hashed.
    rule            TEXT,
    detail          TEXT,
    prev_hash       BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX access_log_at ON access_log (tenant_id, at);
CREATE INDEX access_log_person ON access_log (tenant_id, person_id, seq);
CREATE INDEX access_log_access_point ON access_log (tenant_id, access_point_id, seq);

CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access log entries are immutable');
END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access log entries are immutable');
END;

-- Where each tenant's chain ends: moved forward in the transaction of every
-- append, only from the head the batch continues (so two writers cannot both
-- attach to the same entry), and the witness that the newest entries are all there.
-- updated_at is the `at` of the entry the head names.
CREATE TABLE access_log_heads (
    tenant_id  BLOB PRIMARY KEY REFERENCES tenants (id),
    seq        INTEGER NOT NULL,
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    updated_at TEXT NOT NULL
);
