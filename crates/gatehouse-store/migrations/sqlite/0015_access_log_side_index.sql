-- The log's lookups by person and by access point move to a side file next to the
-- database, folded in from the log in the background (see sqlite_log_index.rs). In
-- this file they put every new entry on two index pages of its own, which halved the
-- rate at which group commit could log decisions. The side file is rebuilt from the
-- log when it is missing, so an upgraded database fills it in its first minutes.
DROP INDEX IF EXISTS access_log_person;
DROP INDEX IF EXISTS access_log_access_point;
