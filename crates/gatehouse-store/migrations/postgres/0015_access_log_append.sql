-- One tenant's batch of access-log entries, appended in one call: the entries
-- first, then the single-use credentials they used, then the chain's head,
-- moved on only from the entry the batch continues (`prev_seq`, `prev_hash`;
-- both NULL when the batch starts the chain). A head that moved elsewhere raises
-- SQLSTATE GH409 and the whole call is undone.
--
-- One call is one round trip, and its plans are made once per connection: the
-- statement it replaces (a data-modifying CTE over the same arrays) spent more
-- on planning and executor start-up per batch. The head comes last, so the row
-- lock that serialises appends is held only from there to the commit.
-- Runs as the caller, so row-level security applies as to any other insert.
CREATE FUNCTION gatehouse_access_log_append(
    in_tenant uuid, in_seq bigint, in_hash bytea, in_updated_at timestamptz,
    in_prev_seq bigint, in_prev_hash bytea,
    in_seqs bigint[], in_ids uuid[], in_ats timestamptz[], in_kinds text[], in_access_points uuid[],
    in_people uuid[], in_credentials uuid[], in_credential_kinds text[], in_directions text[],
    in_granted boolean[], in_reasons text[], in_door_actions text[], in_rules text[], in_details text[],
    in_prev_hashes bytea[], in_hashes bytea[],
    in_used uuid[], in_used_at timestamptz[]
) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO access_log (tenant_id, seq, id, at, kind, access_point_id, person_id, credential_id,
        credential_kind, direction, granted, reason, door_action, rule, detail, prev_hash, hash)
    SELECT in_tenant, e.*
    FROM UNNEST(in_seqs, in_ids, in_ats, in_kinds, in_access_points, in_people, in_credentials,
        in_credential_kinds, in_directions, in_granted, in_reasons, in_door_actions, in_rules, in_details,
        in_prev_hashes, in_hashes) AS e;

    IF cardinality(in_used) > 0 THEN
        UPDATE credentials SET used_at = u.at
        FROM (SELECT DISTINCT ON (id) id, at FROM UNNEST(in_used, in_used_at) WITH ORDINALITY AS u (id, at, n)
            ORDER BY id, n) AS u
        WHERE credentials.tenant_id = in_tenant AND credentials.id = u.id AND credentials.used_at IS NULL;
    END IF;

    IF in_prev_seq IS NULL THEN
        INSERT INTO access_log_heads (tenant_id, seq, hash, updated_at)
        VALUES (in_tenant, in_seq, in_hash, in_updated_at)
        ON CONFLICT (tenant_id) DO NOTHING;
    ELSE
        UPDATE access_log_heads SET seq = in_seq, hash = in_hash, updated_at = in_updated_at
        WHERE tenant_id = in_tenant AND seq = in_prev_seq AND hash = in_prev_hash;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the access log of tenant % does not end where this batch continues it', in_tenant
            USING ERRCODE = 'GH409';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION gatehouse_access_log_append FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gatehouse_access_log_append TO gatehouse_app;
