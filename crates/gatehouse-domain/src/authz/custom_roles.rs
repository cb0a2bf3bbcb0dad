//! A tenant's own roles and the catalog that resolves a role name in one tenant.

use super::*;

impl RoleName {
    /// The built-in role of this name, if it is one.
    pub fn builtin(&self) -> Option<BuiltinRole> {
        BuiltinRole::parse(self.as_str())
    }
}

impl From<BuiltinRole> for RoleName {
    fn from(role: BuiltinRole) -> RoleName {
        // Built-in names are valid role names: a test parses every one.
        RoleName::trusted(role.name())
    }
}

/// A tenant's own role: chosen permissions, optionally on top of a built-in role's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomRole {
    pub id: RoleId,
    pub tenant_id: TenantId,
    pub name: RoleName,
    pub description: Option<String>,
    /// A built-in role whose permissions this one holds too.
    pub inherits: Option<BuiltinRole>,
    /// The permissions this role adds.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["access.log.read"])))]
    pub permissions: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CustomRole {
    pub fn effective_permissions(&self) -> PermissionSet {
        grants(self.inherits, &self.permissions)
    }
}

/// What a custom role of these parts grants.
pub fn grants(inherits: Option<BuiltinRole>, permissions: &[Permission]) -> PermissionSet {
    let own = permissions.iter().copied().fold(PermissionSet::EMPTY, PermissionSet::with);
    inherits.map_or(own, |role| own.union(role.effective_permissions()))
}

/// Longest description of a custom role, in characters.
pub const ROLE_DESCRIPTION_MAX: usize = 500;

/// Checks what a custom role may hold: never a platform permission, never
/// `platform_admin`, and a description of sensible length.
pub fn check_custom_role(
    description: Option<&str>,
    inherits: Option<BuiltinRole>,
    permissions: &[Permission],
) -> Result<(), ValidationError> {
    if inherits.is_some_and(|role| role.is_platform()) {
        return Err(ValidationError::new("inherits", "a tenant's role cannot inherit a platform role"));
    }
    if let Some(platform) = permissions.iter().find(|p| p.code().starts_with("platform.")) {
        return Err(ValidationError::new("permissions", format!("{platform} belongs to platform roles only")));
    }
    if let Some(description) = description {
        if description.chars().count() > ROLE_DESCRIPTION_MAX || description.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {ROLE_DESCRIPTION_MAX} characters, without control characters"),
            ));
        }
    }
    Ok(())
}

/// A new custom role, as a client sends it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCustomRole {
    pub name: RoleName,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub inherits: Option<BuiltinRole>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["access.log.read", "people.person.read"])))]
    pub permissions: Vec<Permission>,
}

/// Fields left out stay; the name never changes (assignments refer to it).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomRolePatch {
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BuiltinRole>))]
    pub inherits: Option<Option<BuiltinRole>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub permissions: Option<Vec<Permission>>,
}

/// The roles that can be given in one tenant: the built-in ones and its own.
#[derive(Debug, Clone, Default)]
pub struct RoleCatalog {
    custom: std::collections::HashMap<String, PermissionSet>,
}

impl RoleCatalog {
    /// Built-in roles only: what platform-level assignments draw on.
    pub fn builtin() -> RoleCatalog {
        RoleCatalog::default()
    }

    pub fn with_custom(roles: &[CustomRole]) -> RoleCatalog {
        RoleCatalog { custom: roles.iter().map(|role| (role.name.as_str().to_owned(), role.effective_permissions())).collect() }
    }

    /// The effective permissions of the role of this name, if it exists here.
    pub fn permissions(&self, name: &RoleName) -> Option<PermissionSet> {
        match name.builtin() {
            Some(builtin) => Some(builtin.effective_permissions()),
            None => self.custom.get(name.as_str()).copied(),
        }
    }

    /// What an assignment of `name` grants: nothing if the role is gone (deny by default).
    pub fn resolve(&self, name: &RoleName) -> PermissionSet {
        self.permissions(name).unwrap_or(PermissionSet::EMPTY)
    }
}
