//! The access log: `GET /api/v1/access/log` (filtered, cursor-paged),
//! `GET /api/v1/access/log.csv` (the same, streamed) and
//! `GET /api/v1/access/log/verify` (the hash chain, checked end to end).

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_access::chain::{LogRecord, Verification};
use gatehouse_access::credential::CredentialKind;
use gatehouse_access::Reason;
use gatehouse_domain::devices::DoorEventKind;
use gatehouse_domain::{AccessPointId, PersonId};
use gatehouse_store::{AccessLogFilter, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use gatehouse_services::devices::events::{EVENT_AGE_MAX, EVENT_FUTURE_SKEW_MAX};

use super::TenantHeader;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Rows per page, 1 to 500 (default 50). Ignored by the CSV export, which streams everything.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
    pub person_id: Option<PersonId>,
    pub access_point_id: Option<AccessPointId>,
    pub credential_kind: Option<CredentialKind>,
    /// `true`: grants only; `false`: refusals only.
    pub granted: Option<bool>,
    /// A decision's reason code (`granted`, `unknown_credential`, …) or a device event
    /// (`door_forced`, `door_held_open`, `door_opened`, `door_closed`, `tamper`, `exit_button`, `alarm_input`).
    pub reason: Option<String>,
    /// Entries whose reported instant (`reported_at`, else `at`) is at or after this one.
    pub reported_from: Option<DateTime<Utc>>,
    /// Entries whose reported instant is before this one.
    pub reported_to: Option<DateTime<Utc>>,
    /// `seq` (the default: the order Gatehouse recorded them) or `reported_at` (the order
    /// they happened, as devices tell it: a backlog falls into place; ties in `seq` order).
    pub order: Option<LogOrder>,
}

/// The order the log is listed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogOrder {
    #[default]
    Seq,
    ReportedAt,
}

/// Where a page starts: a cursor this server issued, which also fixes the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Seq(i64),
    /// `r{unix microseconds}.{seq}`.
    Reported(DateTime<Utc>, i64),
}

impl Cursor {
    fn text(self) -> String {
        match self {
            Cursor::Seq(seq) => format!("s{seq}"),
            Cursor::Reported(at, seq) => format!("r{}.{seq}", at.timestamp_micros()),
        }
    }

    fn parse(text: &str) -> Option<Cursor> {
        if let Some(seq) = text.strip_prefix('s') {
            return seq.parse::<i64>().ok().filter(|seq| *seq >= 0).map(Cursor::Seq);
        }
        let (micros, seq) = text.strip_prefix('r')?.split_once('.')?;
        let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
        Some(Cursor::Reported(at, seq.parse::<i64>().ok().filter(|seq| *seq >= 0)?))
    }
}

/// A page of the log in either order.
struct Listed {
    items: Vec<LogRecord>,
    next: Option<Cursor>,
}

async fn list_page(
    store: &dyn gatehouse_store::Store,
    tenant: gatehouse_domain::TenantId,
    filter: &AccessLogFilter,
    order: LogOrder,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Listed, gatehouse_store::StoreError> {
    Ok(match (order, after) {
        (LogOrder::ReportedAt, after) => {
            let after = match after {
                Some(Cursor::Reported(at, seq)) => Some((at, seq)),
                _ => None,
            };
            let page = store.access_log_list_reported(tenant, filter, after, limit).await?;
            Listed { items: page.items, next: page.next_after.map(|(at, seq)| Cursor::Reported(at, seq)) }
        }
        (LogOrder::Seq, after) => {
            let after = match after {
                Some(Cursor::Seq(seq)) => Some(seq),
                _ => None,
            };
            let page = store.access_log_list(tenant, filter, after, limit).await?;
            Listed { items: page.items, next: page.next_after_seq.map(Cursor::Seq) }
        }
    })
}

impl LogQuery {
    fn filter(&self) -> ApiResult<AccessLogFilter> {
        if let Some(reason) = &self.reason {
            let decision = serde_json::from_value::<Reason>(serde_json::Value::String(reason.clone())).is_ok();
            if !decision && reason.parse::<DoorEventKind>().is_err() {
                return Err(ApiError::invalid_query(format!(
                    "`{reason}` is neither a decision's reason code nor a device event ({})",
                    DoorEventKind::expected()
                ))
                .with_field("reason"));
            }
        }
        // Every device-reported instant lies within bounds of when it was recorded (`at`):
        // those bounds let the database narrow a reported-instant filter by its index on `at`.
        let from = latest([self.from, self.reported_from.map(|reported| reported - EVENT_FUTURE_SKEW_MAX)]);
        let to = earliest([self.to, self.reported_to.map(|reported| reported + EVENT_AGE_MAX)]);
        Ok(AccessLogFilter {
            from,
            to,
            reported_from: self.reported_from,
            reported_to: self.reported_to,
            person_id: self.person_id,
            access_point_id: self.access_point_id,
            credential_kind: self.credential_kind.map(|kind| kind.as_str().to_owned()),
            granted: self.granted,
            reason: self.reason.clone(),
        })
    }

    fn order(&self) -> LogOrder {
        self.order.unwrap_or_default()
    }

    fn after(&self) -> ApiResult<Option<Cursor>> {
        let Some(text) = self.cursor.as_deref() else { return Ok(None) };
        let cursor = Cursor::parse(text)
            .ok_or_else(|| ApiError::invalid_query("cursor is not one this server issued").with_field("cursor"))?;
        let fits =
            matches!((self.order(), cursor), (LogOrder::Seq, Cursor::Seq(_)) | (LogOrder::ReportedAt, Cursor::Reported(..)));
        if !fits {
            return Err(ApiError::invalid_query("cursor belongs to a listing in another order").with_field("cursor"));
        }
        Ok(Some(cursor))
    }
}

fn latest<const N: usize>(instants: [Option<DateTime<Utc>>; N]) -> Option<DateTime<Utc>> {
    instants.into_iter().flatten().max()
}

fn earliest<const N: usize>(instants: [Option<DateTime<Utc>>; N]) -> Option<DateTime<Utc>> {
    instants.into_iter().flatten().min()
}

/// One access-log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntry {
    pub seq: i64,
    /// The decision id (or the id of the mode change).
    pub id: gatehouse_domain::DecisionId,
    pub at: DateTime<Utc>,
    /// `decision`, `door_mode`, `lockdown`, `lockdown_release`, `forgive`, `remote_unlock`,
    /// `door_event` or `offline_decision` (a controller's own decision, reported afterwards).
    pub kind: gatehouse_access::chain::EntryKind,
    pub access_point_id: Option<AccessPointId>,
    pub person_id: Option<PersonId>,
    pub credential_id: Option<gatehouse_domain::CredentialId>,
    pub credential_kind: Option<String>,
    pub direction: Option<String>,
    pub granted: Option<bool>,
    pub reason: Option<String>,
    pub door_action: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub rule: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// When it happened by the device's own clock (its `ts`), for what a device reported
    /// (door events, offline decisions); null for what Gatehouse did itself, at `at`.
    pub reported_at: Option<DateTime<Utc>>,
    /// This entry's chain hash (hex).
    pub hash: String,
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl From<LogRecord> for LogEntry {
    fn from(record: LogRecord) -> LogEntry {
        let json = |text: Option<String>| text.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
        let reported_at = record.reported_at();
        LogEntry {
            reported_at,
            seq: record.seq,
            id: record.id,
            at: record.at,
            kind: record.kind,
            access_point_id: record.access_point_id,
            person_id: record.person_id,
            credential_id: record.credential_id,
            credential_kind: record.credential_kind,
            direction: record.direction,
            granted: record.granted,
            reason: record.reason,
            door_action: record.door_action,
            rule: json(record.rule),
            detail: json(record.detail),
            hash: hex(&record.hash),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogList {
    pub items: Vec<LogEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The access log in sequence order, filtered.
#[utoipa::path(
    get, path = "/api/v1/access/log", tag = "access", params(TenantHeader, LogQuery),
    responses((status = 200, body = LogList), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_log(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Json<LogList>> {
    let limit = query.limit.unwrap_or(PAGE_LIMIT_DEFAULT).clamp(1, PAGE_LIMIT_MAX);
    let (filter, after) = (query.filter()?, query.after()?);
    let page = list_page(state.store.as_ref(), ctx.tenant_id(), &filter, query.order(), after, limit).await?;
    Ok(Json(LogList { items: page.items.into_iter().map(LogEntry::from).collect(), next_cursor: page.next.map(Cursor::text) }))
}

const CSV_HEADER: &[&str] = &[
    "seq",
    "id",
    "at",
    "kind",
    "access_point_id",
    "person_id",
    "credential_id",
    "credential_kind",
    "direction",
    "granted",
    "reason",
    "door_action",
    "rule",
    "detail",
    "hash",
    "reported_at",
];
/// Rows read per query while streaming the CSV export.
const CSV_CHUNK: u32 = 1_000;

fn csv_rows(records: &[LogRecord], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(records.len() * 256));
    if header {
        writer.write_record(CSV_HEADER)?;
    }
    let text = |value: Option<String>| value.unwrap_or_default();
    for record in records {
        writer.write_record([
            record.seq.to_string(),
            record.id.to_string(),
            record.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            record.kind.as_str().to_owned(),
            text(record.access_point_id.map(|id| id.to_string())),
            text(record.person_id.map(|id| id.to_string())),
            text(record.credential_id.map(|id| id.to_string())),
            text(record.credential_kind.clone()),
            text(record.direction.clone()),
            text(record.granted.map(|granted| granted.to_string())),
            text(record.reason.clone()),
            text(record.door_action.clone()),
            text(record.rule.clone()),
            text(record.detail.clone()),
            hex(&record.hash),
            text(record.reported_at().map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))),
        ])?;
    }
    writer.into_inner().map_err(|err| csv::Error::from(err.into_error()))
}

/// The access log as CSV, streamed page by page (same filters as the JSON list; no limit).
#[utoipa::path(
    get, path = "/api/v1/access/log.csv", tag = "access", params(TenantHeader, LogQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn export_log_csv(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant_id();
    let (filter, first, order) = (query.filter()?, query.after()?, query.order());
    // The first page is read before answering, so a failing query is a proper error response.
    let page = list_page(state.store.as_ref(), tenant, &filter, order, first, CSV_CHUNK).await?;
    let head = csv_rows(&page.items, true).map_err(|err| ApiError::internal(&err))?;
    let store = state.store.clone();
    let rest = futures::stream::unfold(page.next, move |after| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            let after = after?;
            match list_page(store.as_ref(), tenant, &filter, order, Some(after), CSV_CHUNK).await {
                Ok(page) => match csv_rows(&page.items, false) {
                    Ok(bytes) => Some((Ok::<_, std::io::Error>(bytes), page.next)),
                    Err(err) => Some((Err(std::io::Error::other(err)), None)),
                },
                Err(err) => {
                    // Headers are gone already: end the body abruptly so the client sees a broken transfer.
                    tracing::error!(error = %err, "access log export failed midway");
                    Some((Err(std::io::Error::other("access log export failed")), None))
                }
            }
        }
    });
    let body = futures::StreamExt::chain(futures::stream::once(async move { Ok(head) }), rest);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"access-log.csv\""),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Check the tenant's access-log chain from the first entry to the last; names the first entry
/// that was changed, removed or slipped in.
#[utoipa::path(
    get, path = "/api/v1/access/log/verify", tag = "access", params(TenantHeader),
    responses((status = 200, body = Verification), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn verify_log(ctx: TenantContext, State(state): State<AppState>) -> ApiResult<Json<Verification>> {
    let tenant = ctx.tenant_id();
    let key = state.access.keys().chain_key(tenant);
    Ok(Json(gatehouse_services::access::verify::verify_chain(state.store.as_ref(), key, tenant).await?))
}
