//! `/api/v1/credentials`: cards, PINs, QR codes, plates, mobile keys and
//! biometric templates bound to people. Secrets (PINs, QR tokens, mobile
//! tokens) are kept only as keyed digests; a QR or mobile token is shown once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_access::credential::*;
use gatehouse_access::policy::{check_window, CredentialInput, CredentialPatch};
use gatehouse_domain::wiegand::WiegandFormat;
use gatehouse_domain::{CredentialId, PersonId};
use gatehouse_store::CredentialFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;
use gatehouse_services::access::presented::{check_card_fields, read_card, CardRead};

/// `POST /api/v1/credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    pub person_id: PersonId,
    pub kind: CredentialKind,
    /// Card number (decimal), PIN (4 to 8 digits), plate, mobile public key or app token, or
    /// biometric template id. Leave out for `qr` (Gatehouse issues the token) and, to have
    /// Gatehouse issue one, for `mobile`.
    #[serde(default)]
    pub value: Option<String>,
    /// A card's facility (company) code.
    #[serde(default)]
    pub facility_code: Option<u32>,
    /// A card enrolled from a raw Wiegand frame (instead of `value` and `facility_code`).
    #[serde(default)]
    pub wiegand: Option<String>,
    #[serde(default)]
    pub format: Option<WiegandFormat>,
    /// `active` (default) or `suspended`.
    #[serde(default)]
    pub status: Option<CredentialStatus>,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// A QR code that opens once.
    #[serde(default)]
    pub single_use: bool,
}

/// A new credential, with its secret when Gatehouse issued one: shown here once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCredential {
    #[serde(flatten)]
    pub credential: Credential,
    /// The QR token (render it as the QR code) or the issued mobile token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl NewCredential {
    /// Normalises the value and derives the lookup key; returns the input and the secret to show once.
    fn input(self, keys: &TenantKeys) -> ApiResult<(CredentialInput, Option<String>)> {
        let id = CredentialId::generate();
        let status = match self.status.unwrap_or(CredentialStatus::Active) {
            status @ (CredentialStatus::Active | CredentialStatus::Suspended) => status,
            other => return Err(ApiError::validation("status", format!("a new credential is active or suspended, not {other}"))),
        };
        check_window(self.valid_from, self.valid_until).map_err(ApiError::from)?;
        if self.single_use && self.kind != CredentialKind::Qr {
            return Err(ApiError::validation("single_use", "only a QR code is single-use"));
        }
        check_card_fields("kind", self.kind, self.facility_code, self.wiegand.as_deref(), self.format)?;
        let value_of = |kind: &str| {
            self.value.clone().ok_or_else(|| ApiError::validation("value", format!("a {kind} credential needs its value")))
        };
        let at_value = |err: gatehouse_domain::ValidationError| ApiError::from(err.at("value"));
        let mut secret = None;
        let (value, facility_code, lookup_key) = match self.kind {
            CredentialKind::Card => {
                let (facility, number) =
                    match read_card("", self.value.as_deref(), self.facility_code, self.wiegand.as_deref(), self.format)? {
                        CardRead::Card { facility, number } => (facility, number),
                        CardRead::Unreadable { field, message, .. } => return Err(ApiError::validation(field, message)),
                    };
                (Some(number.to_string()), facility, card_key(facility, number))
            }
            CredentialKind::Pin => {
                let pin = value_of("pin")?;
                check_pin(&pin).map_err(at_value)?;
                (None, None, keys.pin_key(&pin))
            }
            CredentialKind::Qr => {
                if self.value.is_some() {
                    return Err(ApiError::validation("value", "Gatehouse issues QR tokens; leave value out"));
                }
                secret = Some(keys.qr_token(id, self.valid_from, self.valid_until));
                (None, None, id.to_string())
            }
            CredentialKind::Plate => {
                let plate = normalize_plate(&value_of("plate")?).map_err(at_value)?;
                (Some(plate.clone()), None, plate)
            }
            CredentialKind::Mobile => {
                let token = match &self.value {
                    Some(value) => {
                        check_opaque(value).map_err(at_value)?;
                        value.clone()
                    }
                    None => {
                        let (token, _) = gatehouse_services::secret_token::generate("ghk_");
                        secret = Some(token.clone());
                        token
                    }
                };
                (None, None, mobile_key(&token))
            }
            CredentialKind::Biometric => {
                let template = value_of("biometric")?;
                check_opaque(&template).map_err(at_value)?;
                (Some(template.clone()), None, template)
            }
        };
        let input = CredentialInput {
            id,
            person_id: self.person_id,
            kind: self.kind,
            value,
            facility_code,
            lookup_key,
            status,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            single_use: self.single_use,
        };
        Ok((input, secret))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub person_id: Option<PersonId>,
    pub kind: Option<CredentialKind>,
    pub status: Option<CredentialStatus>,
}

/// Issue a credential to a person.
#[utoipa::path(
    post, path = "/api/v1/credentials", tag = "credentials", request_body = NewCredential, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = CreatedCredential), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_credential(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewCredential>,
) -> ApiResult<(StatusCode, Json<CreatedCredential>)> {
    let tenant = ctx.tenant_id();
    let (input, secret) = new.input(&state.access.keys().credential_keys(tenant))?;
    let credential = state.policy.credential_create(tenant, &input, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(CreatedCredential { credential, secret })))
}

/// List credentials.
#[utoipa::path(
    get, path = "/api/v1/credentials", tag = "credentials", params(TenantHeader, CredentialQuery),
    responses((status = 200, body = List<Credential>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_credentials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CredentialQuery>,
) -> ApiResult<Json<List<Credential>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = CredentialFilter { person_id: query.person_id, kind: query.kind, status: query.status };
    Ok(Json(state.store.credential_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a credential.
#[utoipa::path(
    get, path = "/api/v1/credentials/{id}", tag = "credentials", params(TenantHeader, ("id" = CredentialId, Path)),
    responses((status = 200, body = Credential), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_credential(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CredentialId>,
) -> ApiResult<Json<Credential>> {
    Ok(Json(state.store.credential_get(ctx.tenant_id(), id).await?))
}

/// Suspend, reactivate, report lost or expire a credential, or change its validity window.
/// A lost credential is final (422 on `status`); the next decision sees the change.
#[utoipa::path(
    patch, path = "/api/v1/credentials/{id}", tag = "credentials", request_body = CredentialPatch, params(TenantHeader, ("id" = CredentialId, Path)),
    responses((status = 200, body = Credential), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_credential(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CredentialId>,
    ApiJson(patch): ApiJson<CredentialPatch>,
) -> ApiResult<Json<Credential>> {
    let tenant = ctx.tenant_id();
    let credential = state.policy.credential_update(tenant, id, &patch, &ctx.caller().change()).await?;
    Ok(Json(credential))
}

/// Delete a credential. A lost one is kept for ever, so it can never be issued again (409).
#[utoipa::path(
    delete, path = "/api/v1/credentials/{id}", tag = "credentials", params(TenantHeader, ("id" = CredentialId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_credential(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CredentialId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.credential_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
