-- The access log: every access decision, door-mode change and lockdown, in each
-- tenant's own hash chain (see gatehouse_access::chain). Appended in batches by
-- group commit, in the same transaction as the chain's head below.
--
-- Append-only for the server's role (SELECT and INSERT only), tenant-isolated by
-- row-level security, and partitioned by month of `at` so old months can be
-- archived or dropped whole by the owner. `rule` and `detail` are text, not
-- jsonb: the hash covers their exact bytes. The ids of doors, people and
-- credentials are plain columns, not references: the log outlives what it mentions.
CREATE TABLE access_log (
    tenant_id       uuid NOT NULL,
    seq             bigint NOT NULL,
    id              uuid NOT NULL,
    at              timestamptz NOT NULL,
    kind            text NOT NULL,
    access_point_id uuid,
    person_id       uuid,
    credential_id   uuid,
    credential_kind text,
    direction       text,
    granted         boolean,
    reason          text,
    door_action     text,
    rule            text,
    detail          text,
    prev_hash       bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (octet_length(hash) = 32),
    -- A unique key of a partitioned table must hold the partition key. (tenant_id,
    -- seq) alone is kept unique by access_log_heads: an append moves the head on
    -- only from the entry it continues.
    PRIMARY KEY (tenant_id, seq, at)
) PARTITION BY RANGE (at);
CREATE INDEX access_log_at ON access_log (tenant_id, at);
CREATE INDEX access_log_person ON access_log (tenant_id, person_id, seq);
CREATE INDEX access_log_access_point ON access_log (tenant_id, access_point_id, seq);

-- Rows of a month without a partition of its own land here.
CREATE TABLE access_log_default PARTITION OF access_log DEFAULT;

ALTER TABLE access_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_log
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());

-- Privileges are checked on the table a statement names, and row-level security
-- applies to the parent only: the server's role gets nothing on the partitions
-- themselves (the schema's default privileges would give it UPDATE and DELETE there).
REVOKE ALL ON access_log, access_log_default FROM gatehouse_app;
GRANT SELECT, INSERT ON access_log TO gatehouse_app;

-- Creates the partition for the month holding `in_month` (UTC), access_log_YYYY_MM,
-- unless it exists. Returns 'created', 'exists' or 'skipped': a month whose rows
-- already went to the default partition is skipped with a warning (moving them
-- would mean deleting from the log; the owner can do that deliberately).
-- Run by the owner: at migration and whenever the server starts.
CREATE FUNCTION gatehouse_access_log_partition(in_month date) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    first_day date := date_trunc('month', in_month::timestamp)::date;
    partition_name text := 'access_log_' || to_char(first_day, 'YYYY_MM');
BEGIN
    IF to_regclass(partition_name) IS NOT NULL THEN
        RETURN 'exists';
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF access_log FOR VALUES FROM (%L) TO (%L)',
            partition_name,
            to_char(first_day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char((first_day + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00'
        );
        EXECUTE format('REVOKE ALL ON %I FROM gatehouse_app', partition_name);
        RETURN 'created';
    EXCEPTION
        WHEN check_violation THEN
            RAISE WARNING 'partition % not created: the default partition access_log_default already holds rows of that month',
                partition_name;
            RETURN 'skipped';
        WHEN duplicate_table OR unique_violation THEN
            RETURN 'exists'; -- created concurrently by another node
    END;
END
$$;
REVOKE ALL ON FUNCTION gatehouse_access_log_partition(date) FROM PUBLIC;

-- The current month and the next two; the server adds months as it starts.
DO $$
DECLARE
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
    FOR ahead IN 0..2 LOOP
        PERFORM gatehouse_access_log_partition((this_month + make_interval(months => ahead))::date);
    END LOOP;
END
$$;

-- Where each tenant's chain ends: moved forward in the transaction of every
-- append, only from the head the batch continues (so two nodes cannot both
-- attach to the same entry), and the witness that the newest entries are all there.
-- updated_at is the `at` of the entry the head names.
CREATE TABLE access_log_heads (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    seq        bigint NOT NULL,
    hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
    updated_at timestamptz NOT NULL
);
ALTER TABLE access_log_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_log_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_log_heads
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
-- Platform reads (no tenant set) see every head, read-only: which tenants have a
-- log, for verifying every chain. The entries themselves stay invisible to them.
CREATE POLICY platform_read ON access_log_heads FOR SELECT
    USING (gatehouse_current_tenant() IS NULL);
REVOKE ALL ON access_log_heads FROM gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON access_log_heads TO gatehouse_app;
