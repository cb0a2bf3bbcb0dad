//! `GET /api/v1/events`: the tenant's event log, in `event_seq` order, filtered and
//! cursor-paged. Events follow their access-log entries within moments (the tailer), where
//! the deployment turned the event log on (`event_log`); elsewhere the route says so (503).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_domain::events::{Event, EventSubjectKind, EventType};
use gatehouse_domain::SiteId;
use gatehouse_store::{EventFilter, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::TenantHeader;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Types one query may name at most.
const EVENT_TYPES_PER_QUERY_MAX: usize = 32;

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Event types, comma-separated (`door.forced,door.held_open`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub types: Option<String>,
    pub site_id: Option<SiteId>,
    /// What the events are about: `person`, `access_point`, `device`, `alarm`, `automation`.
    pub subject_kind: Option<EventSubjectKind>,
    pub subject_id: Option<uuid::Uuid>,
    /// Events that occurred at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events that occurred before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl EventQuery {
    fn filter(&self) -> ApiResult<EventFilter> {
        let mut types = Vec::new();
        if let Some(list) = &self.types {
            for code in list.split(',').map(str::trim).filter(|code| !code.is_empty()) {
                let kind = code.parse::<EventType>().map_err(|err| ApiError::invalid_query(err.message).with_field("type"))?;
                if !types.contains(&kind) {
                    types.push(kind);
                }
            }
            if types.len() > EVENT_TYPES_PER_QUERY_MAX {
                return Err(ApiError::invalid_query(format!("at most {EVENT_TYPES_PER_QUERY_MAX} types")).with_field("type"));
            }
        }
        Ok(EventFilter {
            types,
            site_id: self.site_id,
            subject_kind: self.subject_kind,
            subject_id: self.subject_id,
            from: self.from,
            to: self.to,
        })
    }

    fn after(&self) -> ApiResult<i64> {
        match self.cursor.as_deref() {
            None => Ok(0),
            Some(cursor) => cursor
                .strip_prefix('e')
                .and_then(|seq| seq.parse::<i64>().ok())
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| ApiError::invalid_query("cursor is not one this server issued").with_field("cursor")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The tenant's events in `event_seq` order, filtered.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events", params(TenantHeader, EventQuery),
    responses((status = 200, body = EventList), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_events(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<Json<EventList>> {
    if !state.event_log {
        return Err(ApiError::unavailable(
            "the event log is off on this deployment (event_log = \"on\", or GATEHOUSE_EVENT_LOG=on, turns it on)",
        ));
    }
    let limit = query.limit.unwrap_or(PAGE_LIMIT_DEFAULT).clamp(1, PAGE_LIMIT_MAX);
    let (filter, after) = (query.filter()?, query.after()?);
    let mut items = state.store.events_list(ctx.tenant_id(), &filter, after, limit + 1).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(|event| format!("e{}", event.event_seq)) } else { None };
    Ok(Json(EventList { items, next_cursor }))
}
