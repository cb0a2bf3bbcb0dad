-- Each tenant's policy version: a counter that every change to what a decision
-- reads (the tables `access_policy` loads) moves forward, in the same
-- transaction, whoever writes it: this server, the command line, another node,
-- or an operator at a SQL prompt. A running server compares it with the version
-- its snapshot was compiled from and reloads when the database is ahead, so a
-- change made outside the process reaches decisions without a restart. Each
-- change also notifies channel `gatehouse_policy` with the tenant id (delivered
-- at commit), so a listening server need not wait for its next poll.
--
-- Triggers rather than store code: a writer cannot forget them. The credential
-- trigger ignores `used_at`, which the access log marks when a single-use
-- credential is spent: that is not a policy change, and a reload per QR decision
-- would be a storm. The table holds only ids and counters, read across tenants
-- by the server's follower, so like `tenants` it has no row-level security.
CREATE TABLE policy_versions (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version   bigint NOT NULL CHECK (version >= 0)
);
INSERT INTO policy_versions (tenant_id, version) SELECT id, 0 FROM tenants;
GRANT SELECT, INSERT, UPDATE ON policy_versions TO gatehouse_app;

CREATE FUNCTION gatehouse_policy_version_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO policy_versions (tenant_id, version) VALUES (NEW.id, 0);
    RETURN NULL;
END;
$$;
CREATE TRIGGER policy_versions_tenant AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_version_start();

CREATE FUNCTION gatehouse_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_tenant uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed_tenant := OLD.tenant_id;
    ELSE
        changed_tenant := NEW.tenant_id;
    END IF;
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = changed_tenant;
    PERFORM pg_notify('gatehouse_policy', changed_tenant::text);
    RETURN NULL;
END;
$$;
GRANT EXECUTE ON FUNCTION gatehouse_policy_changed() TO gatehouse_app;
GRANT EXECUTE ON FUNCTION gatehouse_policy_version_start() TO gatehouse_app;

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON zones
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON access_points
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON people
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON holiday_calendars
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON schedules
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON access_levels
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON access_level_entries
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON denials
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON door_settings
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON zone_rules
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OR DELETE ON lockdowns
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();

CREATE TRIGGER policy_version_changed AFTER INSERT OR UPDATE OF person_id, kind, value, facility_code, lookup_key, status, valid_from, valid_until, single_use, updated_at OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_changed();
