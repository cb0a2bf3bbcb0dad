//! Helpers for turning stored columns back into domain values. A stored value that
//! no longer parses means the database was edited behind our back: that is
//! reported as [`StoreError::Corrupt`], never papered over.

use gatehouse_domain::ValidationError;

use crate::StoreError;

pub(crate) fn stored<T>(column: &'static str, parsed: Result<T, ValidationError>) -> Result<T, StoreError> {
    parsed.map_err(|err| StoreError::Corrupt(format!("{column}: {}", err.message)))
}

pub(crate) fn stored_opt<T>(
    column: &'static str,
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, StoreError> {
    raw.map(|raw| stored(column, parse(&raw))).transpose()
}

/// A LIKE pattern matching `needle` anywhere, with LIKE's wildcards escaped (`ESCAPE '\'`).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Rows inserted per multi-row INSERT: well under both engines' bound-parameter limits.
pub(crate) const INSERT_ROWS_PER_STATEMENT: usize = 400;

pub(crate) const TENANT_COLUMNS: &str = "id, name, slug, status, mfa_required_roles, created_at, updated_at";
pub(crate) const SITE_COLUMNS: &str = "id, tenant_id, name, time_zone, created_at, updated_at";
pub(crate) const ZONE_COLUMNS: &str = "id, tenant_id, site_id, parent_id, name, kind, created_at, updated_at";
pub(crate) const UNIT_COLUMNS: &str = "id, tenant_id, zone_id, name, created_at, updated_at";
pub(crate) const ACCESS_POINT_COLUMNS: &str = "id, tenant_id, zone_id, name, kind, created_at, updated_at";
pub(crate) const AUDIT_COLUMNS: &str = "id, tenant_id, at, actor_kind, actor_id, actor_label, action, target_type, target_id, \
     before_state, after_state, request_id, source";
pub(crate) const ACCOUNT_COLUMNS: &str = "id, email, display_name, status, created_at, updated_at";
pub(crate) const ROLE_COLUMNS: &str = "id, account_id, tenant_id, role, scope_kind, scope_id, valid_from, valid_until";
pub(crate) const SESSION_COLUMNS: &str =
    "id, account_id, tenant_id, created_at, last_used_at, expires_at, revoked_at, ip, user_agent";
pub(crate) const SIGNING_KEY_COLUMNS: &str = "kid, algorithm, public_key, private_key_encrypted, created_at, retired_at";
pub(crate) const API_KEY_COLUMNS: &str =
    "id, tenant_id, name, role, scope_kind, scope_id, prefix, created_at, expires_at, last_used_at, revoked_at";
pub(crate) const PERSON_COLUMNS: &str =
    "id, tenant_id, kind, first_name, last_name, email, phone, unit_id, external_id, status, metadata, created_at, updated_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
