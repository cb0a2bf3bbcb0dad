//! TOTP second factor: enrol, confirm (with recovery codes), complete a login, disable.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use gatehouse_domain::AccountId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use gatehouse_services::identity::login::TokenResponse;

use crate::auth::{user_agent, AuthenticatedCaller, ClientAddress, Principal};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://` URI, for apps that take a link.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG), for apps that scan.
    pub qr_svg: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A current 6-digit code (or, to disable, a recovery code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each usable once instead of a TOTP code. Shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub mfa_token: String,
    pub code: String,
}

fn account_of(principal: Principal) -> ApiResult<AccountId> {
    match principal {
        Principal::Account { account_id, .. } => Ok(account_id),
        _ => Err(ApiError::validation("Authorization", "a second factor belongs to an account; log in as one")),
    }
}

/// Start TOTP enrolment: a new secret, to confirm with a first code.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/enroll", tag = "auth",
    responses((status = 200, body = Enrollment), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn enroll(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
) -> ApiResult<Json<Enrollment>> {
    let account_id = account_of(caller.principal)?;
    let issued = state.identity.mfa_enroll(state.store.as_ref(), account_id, &caller.change()).await?;
    Ok(Json(Enrollment { secret: issued.secret, otpauth_uri: issued.otpauth_uri, qr_svg: issued.qr_svg }))
}

/// Confirm enrolment with a current code; answers the recovery codes, once.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/confirm", tag = "auth", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn confirm(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let account_id = account_of(caller.principal)?;
    let change = caller.change();
    let recovery_codes = state.identity.mfa_confirm(state.store.as_ref(), account_id, &request.code, &change, caller.at).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Turn the second factor off, with a current code or a recovery code.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/disable", tag = "auth", request_body = CodeRequest,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn disable(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    let account_id = account_of(caller.principal)?;
    state.identity.mfa_disable(state.store.as_ref(), account_id, &request.code, &caller.change(), caller.at).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Complete a login that answered `mfa_required`, with a code or a recovery code.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = TokenResponse), (status = "4XX", body = Problem, content_type = "application/problem+json"))
)]
pub async fn verify(
    State(state): State<AppState>,
    ClientAddress(source): ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let tokens = state
        .identity
        .complete_mfa_login(state.store.as_ref(), &request.mfa_token, &request.code, source, user_agent(&headers), Utc::now())
        .await?;
    Ok(Json(tokens))
}
