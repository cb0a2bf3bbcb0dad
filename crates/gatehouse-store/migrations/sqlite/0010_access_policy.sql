-- Access policy: credentials, holiday calendars, schedules, access levels,
-- groups, grants, the deny list, door settings, zone rules and lockdowns.
-- Booleans are 0/1 integers; lists inside a record (intervals, exceptions,
-- holidays) are JSON text, replaced whole. Every reference is a composite
-- foreign key with tenant_id. Rows that belong to their owner (a door's
-- settings, a zone's rules, a group's members, a level's entries) go with it;
-- everything else that is still referenced blocks the delete.

-- A credential is found by (kind, lookup_key): a card's `facility:number`, a
-- plate, a template id, or a keyed digest for the secret kinds, whose value is
-- never stored.
CREATE TABLE credentials (
    id            BLOB PRIMARY KEY,
    tenant_id     BLOB NOT NULL,
    person_id     BLOB NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('card', 'pin', 'qr', 'plate', 'mobile', 'biometric')),
    value         TEXT,
    facility_code INTEGER CHECK (facility_code >= 0),
    lookup_key    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'lost', 'expired')),
    valid_from    TEXT,
    valid_until   TEXT,
    single_use    INTEGER NOT NULL CHECK (single_use IN (0, 1)),
    used_at       TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, kind, lookup_key),
    CHECK (kind NOT IN ('pin', 'qr', 'mobile') OR value IS NULL),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX credentials_person ON credentials (tenant_id, person_id);

CREATE TABLE holiday_calendars (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    -- A JSON array of {date, name?, recurring}.
    days       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX holiday_calendars_name_unique ON holiday_calendars (tenant_id, lower(name));

CREATE TABLE schedules (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants (id),
    name                TEXT NOT NULL,
    -- NULL: the time zone of the site of the access point being decided.
    time_zone           TEXT,
    -- JSON arrays of intervals and of exceptions.
    intervals           TEXT NOT NULL,
    exceptions          TEXT NOT NULL,
    holiday_calendar_id BLOB,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, holiday_calendar_id) REFERENCES holiday_calendars (tenant_id, id)
);
CREATE UNIQUE INDEX schedules_name_unique ON schedules (tenant_id, lower(name));
CREATE INDEX schedules_holiday_calendar ON schedules (tenant_id, holiday_calendar_id);

CREATE TABLE access_levels (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id),
    name            TEXT NOT NULL,
    lockdown_exempt INTEGER NOT NULL CHECK (lockdown_exempt IN (0, 1)),
    door_override   INTEGER NOT NULL CHECK (door_override IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX access_levels_name_unique ON access_levels (tenant_id, lower(name));

-- The lines of a level, in order; replaced whole when the level changes.
CREATE TABLE access_level_entries (
    tenant_id       BLOB NOT NULL,
    access_level_id BLOB NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    access_point_id BLOB,
    zone_id         BLOB,
    schedule_id     BLOB,
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
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('household', 'department', 'custom')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX groups_name_unique ON groups (tenant_id, lower(name));

CREATE TABLE group_members (
    tenant_id BLOB NOT NULL,
    group_id  BLOB NOT NULL,
    person_id BLOB NOT NULL,
    PRIMARY KEY (group_id, person_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX group_members_tenant ON group_members (tenant_id, group_id, person_id);
CREATE INDEX group_members_person ON group_members (tenant_id, person_id);

-- An access level given to one person or one group.
CREATE TABLE grants (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL,
    person_id       BLOB,
    group_id        BLOB,
    access_level_id BLOB NOT NULL,
    valid_from      TEXT,
    valid_until     TEXT,
    created_at      TEXT NOT NULL,
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
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL,
    person_id   BLOB NOT NULL,
    reason      TEXT NOT NULL,
    valid_until TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX denials_person ON denials (tenant_id, person_id);

-- A door's mode; a door without a row is in the default mode (normal).
CREATE TABLE door_settings (
    tenant_id          BLOB NOT NULL,
    access_point_id    BLOB NOT NULL,
    mode               TEXT NOT NULL CHECK (mode IN ('normal', 'scheduled_unlock', 'locked')),
    unlock_schedule_id BLOB,
    first_person_in    INTEGER NOT NULL CHECK (first_person_in IN (0, 1)),
    requires_pin       INTEGER NOT NULL CHECK (requires_pin IN (0, 1)),
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, access_point_id),
    FOREIGN KEY (tenant_id, access_point_id) REFERENCES access_points (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, unlock_schedule_id) REFERENCES schedules (tenant_id, id)
);
CREATE INDEX door_settings_unlock_schedule ON door_settings (tenant_id, unlock_schedule_id);

-- A zone's presence rules; a zone without a row has the defaults (no anti-passback, no limit).
CREATE TABLE zone_rules (
    tenant_id             BLOB NOT NULL,
    zone_id               BLOB NOT NULL,
    anti_passback         TEXT NOT NULL CHECK (anti_passback IN ('off', 'soft', 'hard')),
    anti_passback_reset_s INTEGER CHECK (anti_passback_reset_s >= 0),
    occupancy_max         INTEGER CHECK (occupancy_max >= 0),
    updated_at            TEXT NOT NULL,
    PRIMARY KEY (tenant_id, zone_id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id) ON DELETE CASCADE
);

-- Lockdowns, in force until released; released ones are kept.
CREATE TABLE lockdowns (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    scope       TEXT NOT NULL CHECK (scope IN ('tenant', 'site', 'zone')),
    site_id     BLOB,
    zone_id     BLOB,
    reason      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    released_at TEXT,
    UNIQUE (tenant_id, id),
    CHECK ((scope = 'site') = (site_id IS NOT NULL) AND (scope = 'zone') = (zone_id IS NOT NULL)),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);
CREATE INDEX lockdowns_active ON lockdowns (tenant_id, id) WHERE released_at IS NULL;
CREATE INDEX lockdowns_site ON lockdowns (tenant_id, site_id);
CREATE INDEX lockdowns_zone ON lockdowns (tenant_id, zone_id);
