//! Versioned migrations, embedded in the binary: one folder per backend, applied
//! in order by sqlx's migrator, which records each in `_sqlx_migrations` with a
//! checksum so an edited migration is caught rather than silently skipped.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// `(version, description, sql)` for each backend, oldest first.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "spine", include_str!("../migrations/sqlite/0001_spine.sql")),
    (2, "audit", include_str!("../migrations/sqlite/0002_audit.sql")),
    (3, "identity", include_str!("../migrations/sqlite/0003_identity.sql")),
    (4, "api_keys", include_str!("../migrations/sqlite/0004_api_keys.sql")),
    (5, "mfa", include_str!("../migrations/sqlite/0005_mfa.sql")),
    (6, "password_resets", include_str!("../migrations/sqlite/0006_password_resets.sql")),
    (7, "tenant_mfa", include_str!("../migrations/sqlite/0007_tenant_mfa.sql")),
    (8, "account_people", include_str!("../migrations/sqlite/0008_account_people.sql")),
    (9, "custom_roles", include_str!("../migrations/sqlite/0009_custom_roles.sql")),
    (10, "access_policy", include_str!("../migrations/sqlite/0010_access_policy.sql")),
    (11, "access_log", include_str!("../migrations/sqlite/0011_access_log.sql")),
    (12, "devices", include_str!("../migrations/sqlite/0012_devices.sql")),
    (13, "device_commands", include_str!("../migrations/sqlite/0013_device_commands.sql")),
    (14, "telemetry", include_str!("../migrations/sqlite/0014_telemetry.sql")),
    (15, "access_log_side_index", include_str!("../migrations/sqlite/0015_access_log_side_index.sql")),
    (16, "policy_versions", include_str!("../migrations/sqlite/0016_policy_versions.sql")),
    (17, "device_message_ids", include_str!("../migrations/sqlite/0017_device_message_ids.sql")),
    (18, "events", include_str!("../migrations/sqlite/0018_events.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "spine", include_str!("../migrations/postgres/0001_spine.sql")),
    (2, "audit", include_str!("../migrations/postgres/0002_audit.sql")),
    (3, "identity", include_str!("../migrations/postgres/0003_identity.sql")),
    (4, "api_keys", include_str!("../migrations/postgres/0004_api_keys.sql")),
    (5, "mfa", include_str!("../migrations/postgres/0005_mfa.sql")),
    (6, "password_resets", include_str!("../migrations/postgres/0006_password_resets.sql")),
    (7, "tenant_mfa", include_str!("../migrations/postgres/0007_tenant_mfa.sql")),
    (8, "account_people", include_str!("../migrations/postgres/0008_account_people.sql")),
    (9, "custom_roles", include_str!("../migrations/postgres/0009_custom_roles.sql")),
    (10, "access_policy", include_str!("../migrations/postgres/0010_access_policy.sql")),
    (11, "access_log", include_str!("../migrations/postgres/0011_access_log.sql")),
    (12, "devices", include_str!("../migrations/postgres/0012_devices.sql")),
    (13, "device_commands", include_str!("../migrations/postgres/0013_device_commands.sql")),
    (14, "telemetry", include_str!("../migrations/postgres/0014_telemetry.sql")),
    (15, "access_log_append", include_str!("../migrations/postgres/0015_access_log_append.sql")),
    (16, "policy_versions", include_str!("../migrations/postgres/0016_policy_versions.sql")),
    (17, "device_message_ids", include_str!("../migrations/postgres/0017_device_message_ids.sql")),
    (18, "events", include_str!("../migrations/postgres/0018_events.sql")),
];

pub(crate) fn migrator(backend: Backend) -> Migrator {
    let source = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations = source
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

pub(crate) fn latest_version(backend: Backend) -> i64 {
    let source = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    source.iter().map(|&(version, _, _)| version).max().unwrap_or(0)
}

pub(crate) fn count(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => SQLITE.len(),
        Backend::Postgres => POSTGRES.len(),
    }
}
