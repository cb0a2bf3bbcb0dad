-- Spine: platform settings, tenants, the physical layout and people.
-- Every tenant-owned table carries tenant_id, every reference between them is a
-- composite foreign key that includes tenant_id, and row-level security is a
-- second wall: the server works as the role gatehouse_app, which sees only the
-- rows of the tenant set for the current transaction (gatehouse.tenant_id).

DO $$
BEGIN
    CREATE ROLE gatehouse_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created by another database of this cluster, or concurrently
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT gatehouse_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    NULL; -- already a member, or a superuser that needs no grant
END
$$;

-- gatehouse_app is a cluster-wide role shared by every Gatehouse database on this
-- server. Only this database's owner may connect here, so the owner of another
-- Gatehouse database cannot connect and SET ROLE its way into this one's rows.
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), current_user);
END
$$;

CREATE FUNCTION gatehouse_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('gatehouse.tenant_id', true), '')::uuid $$;

CREATE TABLE platform_settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    slug       text NOT NULL UNIQUE,
    status     text NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE sites (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    time_zone  text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX sites_name_unique ON sites (tenant_id, lower(name));

CREATE TABLE zones (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    site_id    uuid NOT NULL,
    parent_id  uuid,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('building', 'floor', 'area', 'parking', 'other')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, site_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id, parent_id) REFERENCES zones (tenant_id, site_id, id)
);
CREATE UNIQUE INDEX zones_name_unique
    ON zones (tenant_id, site_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));
CREATE INDEX zones_parent ON zones (tenant_id, parent_id);

CREATE TABLE units (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    zone_id    uuid NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX units_name_unique ON units (tenant_id, zone_id, lower(name));

CREATE TABLE access_points (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    zone_id    uuid NOT NULL,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('door', 'gate', 'barrier', 'turnstile', 'elevator_floor')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE UNIQUE INDEX access_points_name_unique ON access_points (tenant_id, zone_id, lower(name));

CREATE TABLE people (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('resident', 'employee', 'staff', 'visitor')),
    first_name  text NOT NULL,
    last_name   text,
    email       text,
    phone       text,
    unit_id     uuid,
    external_id text,
    status      text NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, unit_id) REFERENCES units (tenant_id, id)
);
CREATE UNIQUE INDEX people_email_unique ON people (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX people_external_id_unique ON people (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX people_unit ON people (tenant_id, unit_id);

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status       integer,
    content_type text,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The second wall.
ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sites
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE zones ENABLE ROW LEVEL SECURITY;
ALTER TABLE zones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON zones
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE units ENABLE ROW LEVEL SECURITY;
ALTER TABLE units FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON units
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE access_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_points FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_points
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE people ENABLE ROW LEVEL SECURITY;
ALTER TABLE people FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON people
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());

GRANT USAGE ON SCHEMA public TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gatehouse_app;
GRANT EXECUTE ON FUNCTION gatehouse_current_tenant() TO gatehouse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gatehouse_app;
