//! A tenant's own roles, and the role assignments of an existing account.

use async_trait::async_trait;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::authz::{CustomRole, CustomRolePatch, NewCustomRole};
use gatehouse_domain::identity::RoleAssignment;
use gatehouse_domain::values::RoleName;
use gatehouse_domain::{AccountId, TenantId};

use crate::*;

/// Most roles of its own a tenant may define.
pub const CUSTOM_ROLES_MAX: usize = 200;

/// A tenant's own roles, and the role assignments of an existing account.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// The tenant's own roles, by name.
    async fn role_list(&self, tenant: TenantId) -> StoreResult<Vec<CustomRole>>;
    async fn role_get(&self, tenant: TenantId, name: &RoleName) -> StoreResult<CustomRole>;
    /// Creates a role ([`StoreError::Conflict`] on `name` if taken).
    async fn role_create(&self, tenant: TenantId, new: &NewCustomRole, change: &ChangeContext) -> StoreResult<CustomRole>;
    async fn role_update(
        &self,
        tenant: TenantId,
        name: &RoleName,
        patch: &CustomRolePatch,
        change: &ChangeContext,
    ) -> StoreResult<CustomRole>;
    /// Deletes a role no account or live API key holds ([`StoreError::InUse`] otherwise).
    async fn role_delete(&self, tenant: TenantId, name: &RoleName, change: &ChangeContext) -> StoreResult<()>;
    /// Gives an account of the tenant one more role there.
    async fn role_assignment_add(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: &RoleAssignment,
        change: &ChangeContext,
    ) -> StoreResult<()>;
    /// Takes one of its roles in the tenant from an account, returning it.
    async fn role_assignment_remove(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: uuid::Uuid,
        change: &ChangeContext,
    ) -> StoreResult<RoleAssignment>;
}
