//! Door modes of access points, presence rules of zones, and who is inside:
//! `/api/v1/access-points/{id}/door`, `/api/v1/zones/{id}/rules`,
//! `/api/v1/zones/{id}/occupancy` and `/api/v1/access/forgive`.
//! Every change is audited and written to the access log before the answer.

use axum::extract::State;
use axum::Json;
use gatehouse_access::chain::EntryKind;
use gatehouse_access::policy::{DoorSettings, ZoneRules};
use gatehouse_domain::{AccessPointId, PersonId, ZoneId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TenantHeader;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use gatehouse_services::access::decision::{actor_json, log_entry};
use gatehouse_services::access::to_micros;

/// Get an access point's door mode.
#[utoipa::path(
    get, path = "/api/v1/access-points/{id}/door", tag = "access points", params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 200, body = DoorSettings), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_door(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
) -> ApiResult<Json<DoorSettings>> {
    ctx.require_point(&state, id).await?;
    Ok(Json(state.store.door_settings_get(ctx.tenant_id(), id).await?))
}

/// Set an access point's door mode: `normal`, `scheduled_unlock` (free passage inside
/// `unlock_schedule_id`, optionally only after the day's first valid credential) or `locked`
/// (only levels with `door_override` pass); and whether its reader asks for a PIN.
#[utoipa::path(
    put, path = "/api/v1/access-points/{id}/door", tag = "access points", request_body = DoorSettings, params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 200, body = DoorSettings), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn put_door(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
    ApiJson(settings): ApiJson<DoorSettings>,
) -> ApiResult<Json<DoorSettings>> {
    use gatehouse_access::policy::DoorMode;
    match (settings.mode, settings.unlock_schedule_id) {
        (DoorMode::ScheduledUnlock, None) => {
            return Err(ApiError::validation("unlock_schedule_id", "a scheduled_unlock door needs the schedule it is free in"))
        }
        (DoorMode::Normal | DoorMode::Locked, Some(_)) => {
            return Err(ApiError::validation("unlock_schedule_id", "only a scheduled_unlock door has an unlock schedule"))
        }
        _ => {}
    }
    if settings.first_person_in && settings.mode != DoorMode::ScheduledUnlock {
        return Err(ApiError::validation("first_person_in", "only a scheduled_unlock door waits for the first person in"));
    }
    ctx.require_point(&state, id).await?;
    let tenant = ctx.tenant_id();
    let stored = state.policy.door_settings_put(tenant, id, &settings, &ctx.caller().change()).await?;
    let mut entry = log_entry(tenant, to_micros(ctx.now()), EntryKind::DoorMode);
    entry.access_point_id = Some(id);
    entry.detail = Some(serde_json::json!({"door": stored, "by": actor_json(&ctx.caller().actor)}).to_string());
    state.access.log.append(entry, None).await?;
    Ok(Json(stored))
}

/// Get a zone's anti-passback and occupancy rules.
#[utoipa::path(
    get, path = "/api/v1/zones/{id}/rules", tag = "zones", params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 200, body = ZoneRules), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_zone_rules(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ZoneId>,
) -> ApiResult<Json<ZoneRules>> {
    ctx.require_zone(&state, id).await?;
    Ok(Json(state.store.zone_rules_get(ctx.tenant_id(), id).await?))
}

/// Set a zone's anti-passback (`off`, `soft`: grant but record, `hard`: deny re-entry
/// without an exit; optionally reset after `anti_passback_reset_s`) and its maximum occupancy.
#[utoipa::path(
    put, path = "/api/v1/zones/{id}/rules", tag = "zones", request_body = ZoneRules, params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 200, body = ZoneRules), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn put_zone_rules(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ZoneId>,
    ApiJson(rules): ApiJson<ZoneRules>,
) -> ApiResult<Json<ZoneRules>> {
    if rules.anti_passback_reset_s == Some(0) {
        return Err(ApiError::validation("anti_passback_reset_s", "at least 1 second (null: never reset)"));
    }
    ctx.require_zone(&state, id).await?;
    let tenant = ctx.tenant_id();
    let stored = state.policy.zone_rules_put(tenant, id, &rules, &ctx.caller().change()).await?;
    Ok(Json(stored))
}

/// One person inside a zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct Occupant {
    pub person_id: PersonId,
    /// When they entered.
    pub since: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Occupancy {
    pub zone_id: ZoneId,
    pub count: usize,
    pub occupancy_max: Option<u32>,
    pub occupants: Vec<Occupant>,
}

/// Who is inside a zone right now (entered through its readers and not yet out).
#[utoipa::path(
    get, path = "/api/v1/zones/{id}/occupancy", tag = "zones", params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 200, body = Occupancy), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_occupancy(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ZoneId>,
) -> ApiResult<Json<Occupancy>> {
    ctx.require_zone(&state, id).await?;
    let tenant = ctx.tenant_id();
    let engine = state.access.engine(tenant).await?;
    let rules = engine.snapshot().zone_rules(id).ok_or_else(|| ApiError::not_found("no such zone in this tenant"))?;
    let now = ctx.now().timestamp();
    let occupants = engine.with_state(|state| state.presence.occupants(id, &rules, now));
    Ok(Json(Occupancy {
        zone_id: id,
        count: occupants.len(),
        occupancy_max: rules.occupancy_max,
        occupants: occupants
            .into_iter()
            .map(|(person_id, since)| Occupant {
                person_id,
                since: chrono::DateTime::from_timestamp(since, 0).unwrap_or_default(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgiveRequest {
    pub person_id: PersonId,
    /// One zone, or every zone when left out.
    #[serde(default)]
    pub zone_id: Option<ZoneId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Forgiven {
    /// How many zones the person was counted inside.
    pub zones: usize,
}

/// Manual anti-passback forgive: the person counts as outside (one zone or all).
#[utoipa::path(
    post, path = "/api/v1/access/forgive", tag = "access", request_body = ForgiveRequest, params(TenantHeader),
    responses((status = 200, body = Forgiven), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn forgive(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ForgiveRequest>,
) -> ApiResult<Json<Forgiven>> {
    let tenant = ctx.tenant_id();
    state
        .store
        .person_get(tenant, body.person_id)
        .await
        .map_err(|_| ApiError::validation("person_id", "no such person in this tenant"))?;
    let engine = state.access.engine(tenant).await?;
    let zones = engine.with_state_mut(|state| state.presence.forgive(body.zone_id, body.person_id));
    let mut entry = log_entry(tenant, to_micros(ctx.now()), EntryKind::Forgive);
    entry.person_id = Some(body.person_id);
    entry.detail =
        Some(serde_json::json!({"zone_id": body.zone_id, "zones": zones, "by": actor_json(&ctx.caller().actor)}).to_string());
    state.access.log.append(entry, None).await?;
    Ok(Json(Forgiven { zones }))
}
