//! Accounts, their role assignments, sessions and the password policy.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::authz::{Assignment, RoleCatalog, Scope};
use crate::tenancy::code_enum;
use crate::values::{Email, Name, RoleName};
use crate::{AccountId, ApiKeyId, PersonId, SessionId, SiteId, TenantId, ValidationError, ZoneId};

/// Shortest and longest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
pub const PASSWORD_CHARS_MAX: usize = 128;

code_enum!(
    /// A disabled account cannot log in and its sessions end.
    AccountStatus { Active => "active", Disabled => "disabled" }
);

/// A password in transit. Never printed, never serialized.
#[derive(Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Password))]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(secret: String) -> Password {
        Password(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Checks a new password: 12 to 128 characters, and not the account's own
/// e-mail, its local part or its name (case-insensitively, also as a substring
/// of a longer password made mostly of it).
pub fn check_password_policy(password: &Password, email: &Email, display_name: Option<&Name>) -> Result<(), ValidationError> {
    let secret = password.expose();
    let length = secret.chars().count();
    if length < PASSWORD_CHARS_MIN {
        return Err(ValidationError::new("password", format!("must be at least {PASSWORD_CHARS_MIN} characters")));
    }
    if length > PASSWORD_CHARS_MAX {
        return Err(ValidationError::new("password", format!("must be at most {PASSWORD_CHARS_MAX} characters")));
    }
    let lowered = secret.to_lowercase();
    let local_part = email.as_str().split('@').next().unwrap_or_default();
    let mut personal = vec![email.as_str().to_owned(), local_part.to_owned()];
    if let Some(name) = display_name {
        personal.push(name.as_str().to_lowercase());
        personal.extend(name.as_str().to_lowercase().split_whitespace().map(str::to_owned));
    }
    for word in personal.iter().filter(|word| word.chars().count() >= 4) {
        // The password is the word, or the word with a few characters around it.
        if lowered.contains(word.as_str()) && word.chars().count() * 2 >= length {
            return Err(ValidationError::new("password", "must not be the account's e-mail or name"));
        }
    }
    if secret.chars().all(|c| c == secret.chars().next().unwrap_or(' ')) {
        return Err(ValidationError::new("password", "must not be one character repeated"));
    }
    if is_common_password(secret) {
        return Err(ValidationError::new("password", "is one of the most common passwords"));
    }
    Ok(())
}

/// Rank past which a password no longer counts as "most common".
pub const COMMON_PASSWORDS_RANK_MAX: usize = 10_000;

/// Whether the whole password (case aside) is among the 10,000 most common ones,
/// by the frequency list that ships inside the zxcvbn crate.
pub fn is_common_password(secret: &str) -> bool {
    let estimate = zxcvbn::zxcvbn(secret, &[]);
    let sequence = estimate.sequence();
    let [only] = sequence else { return false };
    let covers_all = only.i == 0 && only.j + 1 == secret.chars().count();
    match &only.pattern {
        zxcvbn::matching::patterns::MatchPattern::Dictionary(word) => {
            covers_all
                && !word.reversed
                && !word.l33t
                && word.rank <= COMMON_PASSWORDS_RANK_MAX
                && format!("{:?}", word.dictionary_name) == "Passwords"
        }
        _ => false,
    }
}

/// Where a new assignment applies: `{"site_id": …}`, `{"zone_id": …}`, or null for the whole tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    pub site_id: Option<SiteId>,
    pub zone_id: Option<ZoneId>,
}

impl ScopeInput {
    pub fn to_scope(self) -> Result<Scope, ValidationError> {
        match (self.site_id, self.zone_id) {
            (None, None) => Ok(Scope::Tenant),
            (Some(site), None) => Ok(Scope::Site(site)),
            (None, Some(zone)) => Ok(Scope::Zone(zone)),
            (Some(_), Some(_)) => Err(ValidationError::new("scope", "give site_id or zone_id, not both")),
        }
    }
}

/// A role to give, as a client sends it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRoleAssignment {
    /// A built-in role or one of the tenant's own.
    pub role: RoleName,
    #[serde(default)]
    pub scope: Option<ScopeInput>,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// A role held by an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleAssignment {
    pub id: uuid::Uuid,
    pub role: RoleName,
    /// Null for platform roles.
    pub tenant_id: Option<TenantId>,
    pub scope: Scope,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl RoleAssignment {
    /// The assignment with its role's permissions as `roles` defines them now.
    pub fn to_assignment(&self, roles: &RoleCatalog) -> Assignment {
        Assignment {
            id: self.id,
            role_name: self.role.as_str().to_owned(),
            permissions: roles.resolve(&self.role),
            tenant_id: self.tenant_id,
            scope: self.scope,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        }
    }
}

/// A new account, as a client sends it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    #[serde(default)]
    pub display_name: Option<Name>,
    #[serde(default)]
    pub person_id: Option<PersonId>,
    #[serde(default)]
    pub roles: Vec<NewRoleAssignment>,
}

/// Fields left out stay; `display_name: null` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub display_name: Option<Option<Name>>,
    /// `disabled` ends every session of the account at once; `active` lets it log in again.
    pub status: Option<AccountStatus>,
}

/// An account, as the API shows it (never with a password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: AccountId,
    pub email: Email,
    pub display_name: Option<Name>,
    pub status: AccountStatus,
    pub roles: Vec<RoleAssignment>,
    /// The people this account is, one per tenant at most.
    pub people: Vec<PersonLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An account is this person of this tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonLink {
    pub tenant_id: TenantId,
    pub person_id: PersonId,
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    /// The tenant the session's tokens act in; null for platform sessions.
    pub tenant_id: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Session {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// An integration's key, as listed (the key itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub role: RoleName,
    pub scope: Scope,
    /// The key's first characters, to recognise it (`gh_Ab12Cd34`).
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }

    /// The key's role as an assignment in its tenant, valid until the key expires.
    pub fn to_assignment(&self, roles: &RoleCatalog) -> Assignment {
        Assignment {
            id: self.id.as_uuid(),
            role_name: self.role.as_str().to_owned(),
            permissions: roles.resolve(&self.role),
            tenant_id: Some(self.tenant_id),
            scope: self.scope,
            valid_from: None,
            valid_until: self.expires_at,
        }
    }
}

/// A new key, as a client asks for it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: Name,
    /// A built-in role or one of the tenant's own.
    pub role: RoleName,
    #[serde(default)]
    pub scope: Option<ScopeInput>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secret: &str) -> Result<(), ValidationError> {
        let email = Email::parse("ana.souza@example.com").unwrap();
        let name = Name::parse("Ana Souza").unwrap();
        check_password_policy(&Password::new(secret.to_owned()), &email, Some(&name))
    }

    #[test]
    fn password_policy() {
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(129)).is_err());
        assert!(check("aaaaaaaaaaaaaaaa").is_err());
        assert!(check("ana.souza@example.com").is_err(), "the e-mail");
        assert!(check("Ana.Souza2026!").is_err(), "the local part with a little around it");
        assert!(check("ana souza 1234").is_err(), "the name");
        assert!(check("souza loves the beach at noon").is_ok(), "a surname inside a long passphrase is fine");
        assert_eq!(format!("{:?}", Password::new("hunter2hunter2".into())), "Password(***)");
        assert!(check("1qaz2wsx3edc").is_err(), "a common 12-character password");
        assert!(!is_common_password("qwertyuiop123"), "only whole-password matches in the top 10,000 count");
        assert!(check("qwertyuiop123").is_ok());
        assert!(is_common_password("password") && is_common_password("PASSWORD"));
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn scope_inputs() {
        assert_eq!(ScopeInput { site_id: None, zone_id: None }.to_scope(), Ok(Scope::Tenant));
        let site = SiteId::generate();
        assert_eq!(ScopeInput { site_id: Some(site), zone_id: None }.to_scope(), Ok(Scope::Site(site)));
        assert!(ScopeInput { site_id: Some(site), zone_id: Some(ZoneId::generate()) }.to_scope().is_err());
    }
}
