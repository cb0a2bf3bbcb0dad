-- Each tenant's policy version: a counter that every change to what a decision
-- reads (the tables `access_policy` loads) moves forward, in the same
-- transaction, whoever writes it: this server, the command line, another node,
-- or an operator at a SQL prompt. A running server compares it with the version
-- its snapshot was compiled from and reloads when the database is ahead, so a
-- change made outside the process reaches decisions without a restart.
--
-- Triggers rather than store code: a writer cannot forget them. The credential
-- trigger ignores `used_at`, which the access log marks when a single-use
-- credential is spent: that is not a policy change, and a reload per QR decision
-- would be a storm.
CREATE TABLE policy_versions (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version   INTEGER NOT NULL CHECK (version >= 0)
);
INSERT INTO policy_versions (tenant_id, version) SELECT id, 0 FROM tenants;

CREATE TRIGGER policy_versions_tenant AFTER INSERT ON tenants
BEGIN
    INSERT INTO policy_versions (tenant_id, version) VALUES (NEW.id, 0);
END;

CREATE TRIGGER policy_version_sites_insert AFTER INSERT ON sites
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_sites_update AFTER UPDATE ON sites
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_sites_delete AFTER DELETE ON sites
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_zones_insert AFTER INSERT ON zones
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_zones_update AFTER UPDATE ON zones
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_zones_delete AFTER DELETE ON zones
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_access_points_insert AFTER INSERT ON access_points
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_points_update AFTER UPDATE ON access_points
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_points_delete AFTER DELETE ON access_points
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_people_insert AFTER INSERT ON people
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_people_update AFTER UPDATE ON people
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_people_delete AFTER DELETE ON people
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_holiday_calendars_insert AFTER INSERT ON holiday_calendars
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_holiday_calendars_update AFTER UPDATE ON holiday_calendars
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_holiday_calendars_delete AFTER DELETE ON holiday_calendars
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_schedules_insert AFTER INSERT ON schedules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_schedules_update AFTER UPDATE ON schedules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_schedules_delete AFTER DELETE ON schedules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_access_levels_insert AFTER INSERT ON access_levels
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_levels_update AFTER UPDATE ON access_levels
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_levels_delete AFTER DELETE ON access_levels
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_access_level_entries_insert AFTER INSERT ON access_level_entries
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_level_entries_update AFTER UPDATE ON access_level_entries
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_access_level_entries_delete AFTER DELETE ON access_level_entries
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_groups_insert AFTER INSERT ON groups
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_groups_update AFTER UPDATE ON groups
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_groups_delete AFTER DELETE ON groups
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_group_members_insert AFTER INSERT ON group_members
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_group_members_update AFTER UPDATE ON group_members
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_group_members_delete AFTER DELETE ON group_members
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_grants_insert AFTER INSERT ON grants
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_grants_update AFTER UPDATE ON grants
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_grants_delete AFTER DELETE ON grants
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_denials_insert AFTER INSERT ON denials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_denials_update AFTER UPDATE ON denials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_denials_delete AFTER DELETE ON denials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_door_settings_insert AFTER INSERT ON door_settings
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_door_settings_update AFTER UPDATE ON door_settings
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_door_settings_delete AFTER DELETE ON door_settings
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_zone_rules_insert AFTER INSERT ON zone_rules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_zone_rules_update AFTER UPDATE ON zone_rules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_zone_rules_delete AFTER DELETE ON zone_rules
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_lockdowns_insert AFTER INSERT ON lockdowns
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_lockdowns_update AFTER UPDATE ON lockdowns
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_lockdowns_delete AFTER DELETE ON lockdowns
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER policy_version_credentials_insert AFTER INSERT ON credentials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_credentials_update AFTER UPDATE OF person_id, kind, value, facility_code, lookup_key, status, valid_from, valid_until, single_use, updated_at ON credentials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER policy_version_credentials_delete AFTER DELETE ON credentials
BEGIN
    UPDATE policy_versions SET version = version + 1 WHERE tenant_id = OLD.tenant_id;
END;
