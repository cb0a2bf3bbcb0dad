//! "Would this account be allowed to do this, there, then — and why?"

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_domain::authz::{decide, Decision, Permission, Target};
use gatehouse_domain::{AccessPointId, AccountId, SiteId, ZoneId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TenantHeader;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// At most this many zones are walked up from a resource to its site.
const ZONE_WALK_MAX: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub account_id: AccountId,
    /// A permission code, e.g. `access.door.unlock`.
    pub permission: String,
    /// What the permission would be used on; omitted for tenant-wide actions.
    #[serde(default)]
    pub resource: Option<ResourceRef>,
    /// The instant to decide for; now when omitted.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// One of: a site, a zone or an access point of the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    pub site_id: Option<SiteId>,
    pub zone_id: Option<ZoneId>,
    pub access_point_id: Option<AccessPointId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    pub account_id: AccountId,
    pub permission: String,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub decision: Decision,
}

/// Explain an authorization decision: allowed or not, and which assignment and role decided.
#[utoipa::path(
    post, path = "/api/v1/authz/explain", tag = "accounts", request_body = ExplainRequest, params(TenantHeader),
    responses((status = 200, body = Explanation), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn explain(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ExplainRequest>,
) -> ApiResult<Json<Explanation>> {
    let permission = Permission::parse(&request.permission).map_err(|err| ApiError::validation("permission", err.message))?;
    let account = state.store.account_get(request.account_id).await.map_err(|err| match err {
        gatehouse_store::StoreError::NotFound => ApiError::not_found("no such account in this tenant"),
        other => other.into(),
    })?;
    let roles: Vec<_> =
        account.roles.iter().filter(|role| role.tenant_id.is_none() || role.tenant_id == Some(ctx.tenant_id())).collect();
    if !roles.iter().any(|role| role.tenant_id == Some(ctx.tenant_id())) && !roles.iter().any(|role| role.tenant_id.is_none()) {
        return Err(ApiError::not_found("no such account in this tenant"));
    }
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(ctx.tenant_id())).await?;
    let assignments: Vec<_> = roles.iter().map(|role| role.to_assignment(&catalog)).collect();
    let (site, zones) = locate(&state, &ctx, request.resource.as_ref()).await?;
    let target = match site {
        Some(site) => Target::Located { site, zones: &zones },
        None => Target::Tenant,
    };
    let at = request.at.unwrap_or_else(Utc::now);
    let decision = decide(&assignments, ctx.tenant_id(), permission, target, at);
    Ok(Json(Explanation { account_id: account.id, permission: permission.code().to_owned(), at, decision }))
}

/// The site and the zone chain (nearest first) of a resource.
async fn locate(
    state: &AppState,
    ctx: &TenantContext,
    resource: Option<&ResourceRef>,
) -> ApiResult<(Option<SiteId>, Vec<ZoneId>)> {
    let Some(resource) = resource else { return Ok((None, Vec::new())) };
    let tenant = ctx.tenant_id();
    let not_found = |field: &'static str| {
        move |err: gatehouse_store::StoreError| match err {
            gatehouse_store::StoreError::NotFound => ApiError::validation(field, "no such resource in this tenant"),
            other => other.into(),
        }
    };
    let mut zone = match (resource.site_id, resource.zone_id, resource.access_point_id) {
        (Some(site), None, None) => {
            state.store.site_get(tenant, site).await.map_err(not_found("resource.site_id"))?;
            return Ok((Some(site), Vec::new()));
        }
        (None, Some(zone), None) => zone,
        (None, None, Some(access_point)) => {
            state.store.access_point_get(tenant, access_point).await.map_err(not_found("resource.access_point_id"))?.zone_id
        }
        _ => return Err(ApiError::validation("resource", "name exactly one of site_id, zone_id or access_point_id")),
    };
    let mut chain = Vec::new();
    loop {
        let record = state.store.zone_get(tenant, zone).await.map_err(not_found("resource.zone_id"))?;
        chain.push(record.id);
        match record.parent_id {
            Some(parent) if chain.len() < ZONE_WALK_MAX => zone = parent,
            _ => return Ok((Some(record.site_id), chain)),
        }
    }
}
