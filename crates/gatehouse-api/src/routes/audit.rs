//! The admin audit trail, newest first: every change made through the API,
//! with who made it, from where, and the target before and after.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::AuditEntry;
use gatehouse_store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::TenantHeader;
use crate::auth::{PlatformCaller, TenantContext};
use crate::error::{ApiResult, Problem};
use crate::extract::{filter_text, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Exact action, a permission code such as `tenancy.site.update`.
    pub action: Option<String>,
    /// `tenant`, `site`, `zone`, `unit`, `access_point`, `person` or `setting`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub actor_id: Option<Uuid>,
    /// The `x-request-id` of the call that made the change.
    pub request_id: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

fn filter(query: AuditQuery) -> ApiResult<AuditFilter> {
    Ok(AuditFilter {
        action: filter_text("action", query.action)?,
        target_type: filter_text("target_type", query.target_type)?,
        target_id: filter_text("target_id", query.target_id)?,
        actor_id: query.actor_id,
        request_id: filter_text("request_id", query.request_id)?,
        from: query.from,
        to: query.to,
    })
}

/// The tenant's audit trail.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", params(TenantHeader, AuditQuery),
    responses((status = 200, body = List<AuditEntry>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_audit(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<List<AuditEntry>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = filter(query)?;
    Ok(Json(state.store.audit_list(Some(ctx.tenant_id()), &filter, page).await?.into()))
}

/// The platform's audit trail: tenants created, suspended and archived, platform settings.
#[utoipa::path(
    get, path = "/api/v1/platform/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = List<AuditEntry>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_platform_audit(
    _platform: PlatformCaller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<List<AuditEntry>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = filter(query)?;
    Ok(Json(state.store.audit_list(None, &filter, page).await?.into()))
}
