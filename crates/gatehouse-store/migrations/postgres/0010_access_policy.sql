-- Access policy: credentials, holiday calendars, schedules, access levels,
-- groups, grants, the deny list, door settings, zone rules and lockdowns.
-- Lists inside a record (intervals, exceptions, holidays) are jsonb, replaced
-- whole. Every reference is a composite foreign key with tenant_id. Rows that
-- belong to their owner (a door's settings, a zone's rules, a group's members,
-- a level's entries) go with it; everything else that is still referenced
-- blocks the delete.

-- A credential is found by (kind, lookup_key): a card's `facility:number`, a
-- plate, a template id, or a keyed digest for the secret kinds, whose value is
-- never stored.
CREATE TABLE credentials (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    person_id     uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('card', 'pin', 'qr', 'plate', 'mobile', 'biometric')),
    value         text,
    facility_code bigint CHECK (facility_code >= 0),
    lookup_key    text NOT NULL,
    status        text NOT NULL CHECK (status IN ('active', 'suspended', 'lost', 'expired')),
    valid_from    timestamptz,
    valid_until   timestamptz,
    single_use    boolean NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, kind, lookup_key),
    CHECK (kind NOT IN ('pin', 'qr', 'mobile') OR value IS NULL),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX credentials_person ON credentials (tenant_id, person_id);

CREATE TABLE holiday_calendars (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    -- A JSON array of {date, name?, recurring}.
    days       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX holiday_calendars_name_unique ON holiday_calendars (tenant_id, lower(name));

CREATE TABLE schedules (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    name                text NOT NULL,
    -- NULL: the time zone of the site of the access point being decided.
    time_zone           text,
    -- JSON arrays of intervals and of exceptions.
    intervals           jsonb NOT NULL,
    exceptions          jsonb NOT NULL,
    holiday_calendar_id uuid,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, holiday_calendar_id) REFERENCES holiday_calendars (tenant_id, id)
);
CREATE UNIQUE INDEX schedules_name_unique ON schedules (tenant_id, lower(name));
CREATE INDEX schedules_holiday_calendar ON schedules (tenant_id, holiday_calendar_id);

CREATE TABLE access_levels (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    name            text NOT NULL,
    lockdown_exempt boolean NOT NULL,
    door_override   boolean NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX access_levels_name_unique ON access_levels (tenant_id, lower(name));

-- The lines of a level, in order; replaced whole when the level changes.
CREATE TABLE access_level_entries (
    tenant_id       uuid NOT NULL,
    access_level_id uuid NOT NULL,
    position        integer NOT NULL CHECK (position >= 0),
    access_point_id uuid,
    zone_id         uuid,
    schedule_id     uuid,
    PRIMARY KEY (tenant_id, access_level_id, position),
    CHECK ((access_point_id IS NULL) <> (zone_id IS NULL)),
    FOREIGN KEY (tenant_id, access_level_id) REFERENCES access_levels (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, access_point_id) REFERENCES access_points (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id),
    FOREIGN KEY (tenant_id, schedule_id) REFERENCES schedules (tenant_id, id)
);
CREATE INDEX access_level_entries_access_point ON access_level_entries (tenant_id, access_point_id);
CREATE INDEX access_level_entries_zone ON access_level_entries (tenant_id, zone_id);
CREATE INDEX access_level_entries_schedule ON access_level_entries (tenant_id, schedule_id);

CREATE TABLE groups (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('household', 'department', 'custom')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX groups_name_unique ON groups (tenant_id, lower(name));

CREATE TABLE group_members (
    tenant_id uuid NOT NULL,
    group_id  uuid NOT NULL,
    person_id uuid NOT NULL,
    PRIMARY KEY (group_id, person_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX group_members_tenant ON group_members (tenant_id, group_id, person_id);
CREATE INDEX group_members_person ON group_members (tenant_id, person_id);

-- An access level given to one person or one group.
CREATE TABLE grants (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    person_id       uuid,
    group_id        uuid,
    access_level_id uuid NOT NULL,
    valid_from      timestamptz,
    valid_until     timestamptz,
    created_at      timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    CHECK ((person_id IS NULL) <> (group_id IS NULL)),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id),
    FOREIGN KEY (tenant_id, access_level_id) REFERENCES access_levels (tenant_id, id)
);
CREATE INDEX grants_person ON grants (tenant_id, person_id);
CREATE INDEX grants_group ON grants (tenant_id, group_id);
CREATE INDEX grants_access_level ON grants (tenant_id, access_level_id);

-- The deny list.
CREATE TABLE denials (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    person_id   uuid NOT NULL,
    reason      text NOT NULL,
    valid_until timestamptz,
    created_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX denials_person ON denials (tenant_id, person_id);

-- A door's mode; a door without a row is in the default mode (normal).
CREATE TABLE door_settings (
    tenant_id          uuid NOT NULL,
    access_point_id    uuid NOT NULL,
    mode               text NOT NULL CHECK (mode IN ('normal', 'scheduled_unlock', 'locked')),
    unlock_schedule_id uuid,
    first_person_in    boolean NOT NULL,
    requires_pin       boolean NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, access_point_id),
    FOREIGN KEY (tenant_id, access_point_id) REFERENCES access_points (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, unlock_schedule_id) REFERENCES schedules (tenant_id, id)
);
CREATE INDEX door_settings_unlock_schedule ON door_settings (tenant_id, unlock_schedule_id);

-- A zone's presence rules; a zone without a row has the defaults (no anti-passback, no limit).
CREATE TABLE zone_rules (
    tenant_id             uuid NOT NULL,
    zone_id               uuid NOT NULL,
    anti_passback         text NOT NULL CHECK (anti_passback IN ('off', 'soft', 'hard')),
    anti_passback_reset_s bigint CHECK (anti_passback_reset_s >= 0),
    occupancy_max         bigint CHECK (occupancy_max >= 0),
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, zone_id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id) ON DELETE CASCADE
);

-- Lockdowns, in force until released; released ones are kept.
CREATE TABLE lockdowns (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    scope       text NOT NULL CHECK (scope IN ('tenant', 'site', 'zone')),
    site_id     uuid,
    zone_id     uuid,
    reason      text NOT NULL,
    started_at  timestamptz NOT NULL,
    released_at timestamptz,
    UNIQUE (tenant_id, id),
    CHECK ((scope = 'site') = (site_id IS NOT NULL) AND (scope = 'zone') = (zone_id IS NOT NULL)),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE INDEX lockdowns_active ON lockdowns (tenant_id, id) WHERE released_at IS NULL;
CREATE INDEX lockdowns_site ON lockdowns (tenant_id, site_id);
CREATE INDEX lockdowns_zone ON lockdowns (tenant_id, zone_id);

-- The second wall.
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials TO gatehouse_app;
ALTER TABLE credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credentials
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON holiday_calendars TO gatehouse_app;
ALTER TABLE holiday_calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE holiday_calendars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON holiday_calendars
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON schedules TO gatehouse_app;
ALTER TABLE schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON schedules
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON access_levels TO gatehouse_app;
ALTER TABLE access_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_levels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_levels
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON access_level_entries TO gatehouse_app;
ALTER TABLE access_level_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_level_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_level_entries
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON groups TO gatehouse_app;
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE groups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON groups
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON group_members TO gatehouse_app;
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON group_members
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON grants TO gatehouse_app;
ALTER TABLE grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON grants
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON denials TO gatehouse_app;
ALTER TABLE denials ENABLE ROW LEVEL SECURITY;
ALTER TABLE denials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON denials
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON door_settings TO gatehouse_app;
ALTER TABLE door_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE door_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON door_settings
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON zone_rules TO gatehouse_app;
ALTER TABLE zone_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE zone_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON zone_rules
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON lockdowns TO gatehouse_app;
ALTER TABLE lockdowns ENABLE ROW LEVEL SECURITY;
ALTER TABLE lockdowns FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lockdowns
    USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
