//! People. DELETE archives a person (history must keep naming them); archived
//! people are left out of lists unless asked for with `?status=archived`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::people::{NewPerson, Person, PersonKind, PersonPatch, PersonStatus};
use gatehouse_domain::{PersonId, UnitId};
use gatehouse_store::PersonFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{filter_text, ApiJson, ApiPath, ApiQuery, CsvBody};
use crate::pagination::{page_request, List};
use crate::state::AppState;
use gatehouse_services::people_import::{import_people, ImportError, ImportReport};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub kind: Option<PersonKind>,
    /// Without it, archived people are left out.
    pub status: Option<PersonStatus>,
    pub unit_id: Option<UnitId>,
    /// Exact e-mail (case-insensitive).
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Case-insensitive substring of first name, last name or e-mail.
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Write the valid rows and report the invalid ones, instead of writing nothing.
    pub skip_invalid: Option<bool>,
}

/// Create a person.
#[utoipa::path(
    post, path = "/api/v1/people", tag = "people", request_body = NewPerson, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Person), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_person(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewPerson>,
) -> ApiResult<(StatusCode, Json<Person>)> {
    let person = state.store.person_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(person)))
}

/// List people.
#[utoipa::path(
    get, path = "/api/v1/people", tag = "people", params(TenantHeader, PersonQuery),
    responses((status = 200, body = List<Person>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_people(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PersonQuery>,
) -> ApiResult<Json<List<Person>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = PersonFilter {
        kind: query.kind,
        status: query.status,
        unit_id: query.unit_id,
        email: filter_text("email", query.email)?,
        external_id: filter_text("external_id", query.external_id)?,
        search: filter_text("q", query.q)?,
    };
    Ok(Json(state.store.person_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a person.
#[utoipa::path(
    get, path = "/api/v1/people/{id}", tag = "people", params(TenantHeader, ("id" = PersonId, Path)),
    responses((status = 200, body = Person), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_person(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Json<Person>> {
    Ok(Json(state.store.person_get(ctx.tenant_id(), id).await?))
}

/// Update a person; fields sent as `null` are cleared, fields left out stay.
#[utoipa::path(
    patch, path = "/api/v1/people/{id}", tag = "people", request_body = PersonPatch, params(TenantHeader, ("id" = PersonId, Path)),
    responses((status = 200, body = Person), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_person(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(patch): ApiJson<PersonPatch>,
) -> ApiResult<Json<Person>> {
    let updated = state.policy.person_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Archive a person: kept for history, out of default lists.
#[utoipa::path(
    delete, path = "/api/v1/people/{id}", tag = "people", params(TenantHeader, ("id" = PersonId, Path)),
    responses((status = 200, body = Person), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn archive_person(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Json<Person>> {
    let archive = PersonPatch { status: Some(PersonStatus::Archived), ..PersonPatch::default() };
    let archived = state.policy.person_update(ctx.tenant_id(), id, &archive, &ctx.caller().change()).await?;
    Ok(Json(archived))
}

/// Import people from CSV (`text/csv`). Columns: kind, first_name (required),
/// last_name, email, phone, unit_id or unit (a unit name), external_id, status,
/// metadata (a JSON object). Every row is checked first; with an invalid row
/// nothing is written (422 listing every error by line) unless `skip_invalid=true`.
#[utoipa::path(
    post, path = "/api/v1/people/import", tag = "people", request_body(content = String, content_type = "text/csv"),
    params(TenantHeader, IdempotencyHeader, ImportQuery),
    responses((status = 200, body = ImportReport), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn import_people_csv(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    CsvBody(csv): CsvBody,
) -> ApiResult<Json<ImportReport>> {
    let skip_invalid = query.skip_invalid.unwrap_or(false);
    match import_people(state.store.as_ref(), ctx.tenant_id(), &csv, skip_invalid, &ctx.caller().change(), &()).await {
        Ok(report) => Ok(Json(report)),
        Err(ImportError::Invalid(errors)) => Err(ApiError::csv_invalid(errors)),
        Err(ImportError::Store(err)) => Err(err.into()),
    }
}
