//! The one error type of the API: RFC 9457 problem details with a stable `code`.
//!
//! Every failure a client can see is built here, so the code table, the status
//! each code maps to and the shape of the body stay in one place. Server-side
//! failures are logged with their cause and answered with a generic 500 that
//! never carries SQL, paths or a backtrace.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::people_csv::RowError;
use gatehouse_domain::ValidationError;
use gatehouse_services::error::INTERNAL_DETAIL;
use gatehouse_services::ServiceError;
use gatehouse_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, ApiError>;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:gatehouse:problem:{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, fixed summary of the problem kind.
    pub title: &'static str,
    pub status: u16,
    /// What went wrong with this request, for humans.
    pub detail: String,
    /// Stable, machine-readable code; see the table in docs/api.md.
    pub code: &'static str,
    /// The offending field (dotted path into the body, or the query/path parameter), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For CSV imports: every invalid row with its line number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
}

/// Boxed: errors travel in every `Result` of the API, and the happy path should
/// not pay for their size.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ApiErrorParts>);

#[derive(Debug, Clone)]
struct ApiErrorParts {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
    errors: Option<Vec<RowError>>,
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(ApiErrorParts {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
            errors: None,
            retry_after_seconds: None,
        }))
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.0.field = if field.is_empty() { None } else { Some(field) };
        self
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", "The body is not valid JSON", detail)
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", "A query parameter is invalid", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_path", "A path parameter is invalid", detail)
    }

    pub fn invalid_header(header: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_header", "A header is invalid", detail).with_field(header)
    }

    pub fn tenant_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "tenant_required",
            "The call needs a tenant",
            "a platform-level credential must name the tenant (id or slug) in the Gatehouse-Tenant header",
        )
        .with_field("Gatehouse-Tenant")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication is required", detail)
    }

    /// The same answer for an unknown e-mail, a wrong password and a disabled
    /// account, so the response tells an attacker nothing.
    pub fn invalid_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "Login failed", "the e-mail or password is wrong")
    }

    pub fn invalid_refresh_token(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token", "The refresh token is not valid", detail)
    }

    /// Too many attempts: try again after `retry_after_seconds` (also sent as `Retry-After`).
    pub fn rate_limited(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many attempts", detail);
        err.0.retry_after_seconds = Some(retry_after_seconds.max(1));
        err
    }

    pub fn mfa_enrollment_required(tenant: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "mfa_enrollment_required",
            "A second factor is required",
            format!(
                "tenant '{tenant}' requires a second factor for your role: enrol at /api/v1/auth/mfa/totp/enroll, then confirm"
            ),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "The caller may not do this", detail)
    }

    pub fn tenant_suspended(slug: &str, status: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "The tenant is not active",
            format!("tenant '{slug}' is {status}; its API calls are refused until a platform operator reactivates it"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource", detail)
    }

    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "No such route",
            format!("no route for {path}; see /api/v1/openapi.json"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "this route does not accept that method",
        )
    }

    pub fn builtin_role(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "builtin_role",
            "Built-in roles cannot be changed",
            format!("{name} is a built-in role; define a role of the tenant's own instead"),
        )
        .with_field("name")
    }

    pub fn conflict(field: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "A unique value is already taken", format!("{field} is already taken"))
            .with_field(field)
    }

    pub fn in_use(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "in_use", "The resource is still in use", detail)
    }

    /// The request is sound but no registered device can carry it out.
    pub fn no_device(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "no_device", "No device can carry this out", detail)
    }

    pub fn idempotency_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still running",
            "retry once the first request has finished",
        )
        .with_field("Idempotency-Key")
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "The Idempotency-Key was used for another request",
            "this Idempotency-Key was already used with a different method, path or body; use a new key",
        )
        .with_field("Idempotency-Key")
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is too large",
            format!("the body exceeds the limit of {limit_bytes} bytes"),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported Content-Type",
            format!("expected Content-Type: {expected}"),
        )
        .with_field("Content-Type")
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "The request is not valid", detail).with_field(field)
    }

    pub fn csv_invalid(errors: Vec<RowError>) -> Self {
        let first = errors.first().map(|e| format!("; first: line {}: {}", e.line, e.message)).unwrap_or_default();
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "csv_invalid",
            "The CSV file has invalid rows",
            format!("{} problem(s) found and nothing was imported{first}", errors.len()),
        );
        err.0.errors = Some(errors);
        err
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Not ready", detail)
    }

    /// A server-side failure: the cause goes to the log, never to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", INTERNAL_DETAIL)
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:gatehouse:problem:{}", self.0.code),
            title: self.0.title,
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            code: self.0.code,
            field: self.0.field.clone(),
            errors: self.0.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (self.0.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.0.retry_after_seconds {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        if self.0.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse\""));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::validation(err.field, err.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("no such resource in this tenant"),
            StoreError::Conflict { field } => ApiError::conflict(field),
            StoreError::InUse(what) => ApiError::in_use(what),
            StoreError::Invalid(err) => err.into(),
            other => ApiError::internal(&other),
        }
    }
}

/// The services say what kind of failure happened; the statuses, codes and bodies are chosen here.
impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Store(err) => err.into(),
            ServiceError::Invalid(err) => err.into(),
            ServiceError::NotFound { detail, field } => {
                let err = ApiError::not_found(detail);
                match field {
                    Some(field) => err.with_field(field),
                    None => err,
                }
            }
            ServiceError::Forbidden(detail) => ApiError::forbidden(detail),
            ServiceError::Unauthorized(detail) => ApiError::unauthorized(detail),
            ServiceError::InvalidCredentials => ApiError::invalid_credentials(),
            ServiceError::InvalidRefreshToken(detail) => ApiError::invalid_refresh_token(detail),
            ServiceError::RateLimited { detail, retry_after_seconds } => ApiError::rate_limited(detail, retry_after_seconds),
            ServiceError::TenantSuspended { slug, status } => ApiError::tenant_suspended(&slug, status),
            ServiceError::TenantRequired { field } => ApiError::tenant_required().with_field(field),
            ServiceError::Conflict { field } => ApiError::conflict(field),
            ServiceError::NoDevice(detail) => ApiError::no_device(detail),
            ServiceError::Unavailable(detail) => ApiError::unavailable(detail),
            ServiceError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}
