//! The roles of a tenant: the built-in hierarchy, shown as it is, and the
//! tenant's own roles, which an administrator defines from permission codes
//! (optionally on top of a built-in role). Nobody defines or changes a role
//! that would hold more than they hold themselves, tenant-wide.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_domain::authz::{
    check_custom_role, grants, BuiltinRole, CustomRole, CustomRolePatch, NewCustomRole, Permission, PermissionSet, PERMISSIONS,
};
use gatehouse_domain::values::RoleName;
use gatehouse_domain::RoleId;
use serde::Serialize;
use utoipa::ToSchema;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::pagination::List;
use crate::state::AppState;

/// A role as the API shows it, built-in or the tenant's own.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub name: RoleName,
    /// Built-in roles are the same in every tenant and cannot be changed.
    pub builtin: bool,
    /// Null for built-in roles.
    pub id: Option<RoleId>,
    pub description: Option<String>,
    /// The built-in roles whose permissions this one holds too.
    pub inherits: Vec<BuiltinRole>,
    /// The permissions the role adds to those it inherits.
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    /// Everything it grants: its own permissions and all inherited, transitively.
    #[schema(value_type = Vec<String>)]
    pub effective_permissions: Vec<Permission>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl RoleView {
    fn builtin(role: BuiltinRole) -> RoleView {
        RoleView {
            name: role.into(),
            builtin: true,
            id: None,
            description: None,
            inherits: role.inherits().to_vec(),
            permissions: role.own_permissions().iter().filter_map(|code| Permission::parse(code).ok()).collect(),
            effective_permissions: role.effective_permissions().iter().collect(),
            created_at: None,
            updated_at: None,
        }
    }

    fn custom(role: CustomRole) -> RoleView {
        RoleView {
            effective_permissions: role.effective_permissions().iter().collect(),
            name: role.name,
            builtin: false,
            id: Some(role.id),
            description: role.description,
            inherits: role.inherits.into_iter().collect(),
            permissions: role.permissions,
            created_at: Some(role.created_at),
            updated_at: Some(role.updated_at),
        }
    }
}

/// Every permission code, for building roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionList {
    pub items: Vec<&'static str>,
}

/// Every permission code Gatehouse knows (`module.resource.action`), for whoever builds roles.
#[utoipa::path(
    get, path = "/api/v1/permissions", tag = "roles", params(TenantHeader),
    responses((status = 200, body = PermissionList), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_permissions(_ctx: TenantContext) -> Json<PermissionList> {
    Json(PermissionList { items: PERMISSIONS.to_vec() })
}

/// The roles that can be given in this tenant: the built-in ones (but
/// `platform_admin`), then the tenant's own by name. One page holds them all.
#[utoipa::path(
    get, path = "/api/v1/roles", tag = "roles", params(TenantHeader),
    responses((status = 200, body = List<RoleView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_roles(ctx: TenantContext, State(state): State<AppState>) -> ApiResult<Json<List<RoleView>>> {
    let builtin = BuiltinRole::ALL.iter().filter(|role| !role.is_platform()).map(|role| RoleView::builtin(*role));
    let custom = state.store.role_list(ctx.tenant_id()).await?.into_iter().map(RoleView::custom);
    Ok(Json(List { items: builtin.chain(custom).collect(), next_cursor: None }))
}

/// A role of this tenant, built-in or its own.
#[utoipa::path(
    get, path = "/api/v1/roles/{name}", tag = "roles", params(TenantHeader, ("name" = String, Path)),
    responses((status = 200, body = RoleView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<RoleView>> {
    let name = role_name(&name)?;
    if let Some(builtin) = name.builtin().filter(|role| !role.is_platform()) {
        return Ok(Json(RoleView::builtin(builtin)));
    }
    Ok(Json(RoleView::custom(state.store.role_get(ctx.tenant_id(), &name).await.map_err(not_found(&name))?)))
}

/// Define a role of this tenant's own, from permission codes and optionally a built-in role to build on.
#[utoipa::path(
    post, path = "/api/v1/roles", tag = "roles", request_body = NewCustomRole, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = RoleView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewCustomRole>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    if new.name.builtin().is_some() {
        return Err(ApiError::validation("name", format!("{} is a built-in role", new.name)));
    }
    check_custom_role(new.description.as_deref(), new.inherits, &new.permissions)?;
    require_held(&ctx, grants(new.inherits, &new.permissions), &new.name)?;
    let role = state.store.role_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    roles_changed(&state, &ctx);
    Ok((StatusCode::CREATED, Json(RoleView::custom(role))))
}

/// Change a role of this tenant's own; every session and key holding it sees the change on its next request.
#[utoipa::path(
    patch, path = "/api/v1/roles/{name}", tag = "roles", request_body = CustomRolePatch, params(TenantHeader, ("name" = String, Path)),
    responses((status = 200, body = RoleView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(patch): ApiJson<CustomRolePatch>,
) -> ApiResult<Json<RoleView>> {
    let name = custom_role_name(&name)?;
    let current = state.store.role_get(ctx.tenant_id(), &name).await.map_err(not_found(&name))?;
    let description = patch.description.clone().unwrap_or(current.description.clone());
    let inherits = patch.inherits.unwrap_or(current.inherits);
    let permissions = patch.permissions.clone().unwrap_or(current.permissions.clone());
    check_custom_role(description.as_deref(), inherits, &permissions)?;
    // Both what the role grants now and what it would grant: nobody edits a role stronger than themselves.
    require_held(&ctx, current.effective_permissions().union(grants(inherits, &permissions)), &name)?;
    let role = state.store.role_update(ctx.tenant_id(), &name, &patch, &ctx.caller().change()).await?;
    roles_changed(&state, &ctx);
    Ok(Json(RoleView::custom(role)))
}

/// Delete a role of this tenant's own that no account or live API key holds (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/roles/{name}", tag = "roles", params(TenantHeader, ("name" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let name = custom_role_name(&name)?;
    let current = state.store.role_get(ctx.tenant_id(), &name).await.map_err(not_found(&name))?;
    require_held(&ctx, current.effective_permissions(), &name)?;
    state.store.role_delete(ctx.tenant_id(), &name, &ctx.caller().change()).await?;
    roles_changed(&state, &ctx);
    Ok(StatusCode::NO_CONTENT)
}

fn role_name(raw: &str) -> ApiResult<RoleName> {
    RoleName::parse(raw).map_err(|err| ApiError::invalid_path(err.message).with_field("name"))
}

/// A name from the path that must be one of the tenant's own roles.
fn custom_role_name(raw: &str) -> ApiResult<RoleName> {
    let name = role_name(raw)?;
    if name.builtin().is_some() {
        return Err(ApiError::builtin_role(name.as_str()));
    }
    Ok(name)
}

fn not_found(name: &RoleName) -> impl FnOnce(gatehouse_store::StoreError) -> ApiError + '_ {
    move |err| match err {
        gatehouse_store::StoreError::NotFound => ApiError::not_found(format!("no role '{name}' in this tenant")),
        other => other.into(),
    }
}

fn require_held(ctx: &TenantContext, wanted: PermissionSet, name: &RoleName) -> ApiResult<()> {
    let held = ctx.held_tenant_wide(ctx.now());
    if held.includes(wanted) {
        return Ok(());
    }
    let missing: Vec<&str> = wanted.iter().filter(|p| !held.contains(*p)).map(|p| p.code()).collect();
    Err(ApiError::forbidden(format!("role {name} would grant what the caller does not hold: {}", missing.join(", "))))
}

/// Sessions and keys of the tenant resolve their roles afresh from now on.
fn roles_changed(state: &AppState, ctx: &TenantContext) {
    state.identity.roles.forget(ctx.tenant_id());
    state.identity.sessions.forget_tenant(ctx.tenant_id());
}
