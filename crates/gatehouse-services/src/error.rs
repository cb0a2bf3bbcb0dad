//! The one error type of the services. Each variant says what kind of failure
//! it is, not how an edge answers it: the API maps it to problem details (one
//! place, `gatehouse-api`'s `error.rs`), the device ingest to a refusal on the
//! device's reply channel.

use gatehouse_domain::ValidationError;
use gatehouse_store::StoreError;

pub type ServiceResult<T> = Result<T, ServiceError>;

/// What a client is told about a failure on the server's side; the cause goes to the log.
pub const INTERNAL_DETAIL: &str =
    "the server failed to handle the request; the x-request-id header identifies it in the server log";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The input is not valid: the field and what is wrong with it.
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(#[from] ValidationError),
    /// Something the request names does not exist (in this tenant).
    #[error("{detail}")]
    NotFound { detail: String, field: Option<&'static str> },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The credential presented does not authenticate.
    #[error("{0}")]
    Unauthorized(String),
    /// A failed login: the same for an unknown e-mail, a wrong password and a disabled account.
    #[error("the e-mail or password is wrong")]
    InvalidCredentials,
    #[error("{0}")]
    InvalidRefreshToken(String),
    /// Too many attempts: wait this long.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after_seconds: u64 },
    /// The tenant is not active.
    #[error("tenant '{slug}' is {status}")]
    TenantSuspended { slug: String, status: &'static str },
    /// The caller acts in several tenants and must name one (in `field`).
    #[error("the call needs a tenant ({field})")]
    TenantRequired { field: &'static str },
    /// A unique value is already taken.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The request is sound but no registered device can carry it out.
    #[error("{0}")]
    NoDevice(String),
    /// A part of the server is not keeping up or stopped; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// A failure on the server's side, with its cause (for the log only).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::Invalid(ValidationError::new(field, message))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ServiceError::NotFound { detail: detail.into(), field: None }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ServiceError::Forbidden(detail.into())
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        ServiceError::Unavailable(detail.into())
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        ServiceError::Internal(cause.to_string())
    }

    /// Whether the failure is the server's, not the client's.
    pub fn is_internal(&self) -> bool {
        match self {
            ServiceError::Internal(_) => true,
            ServiceError::Store(err) => {
                !matches!(err, StoreError::NotFound | StoreError::Conflict { .. } | StoreError::InUse(_) | StoreError::Invalid(_))
            }
            _ => false,
        }
    }

    /// What a client is told, as the API's problem details put it; never a cause of a server-side failure.
    pub fn detail(&self) -> String {
        match self {
            ServiceError::Store(StoreError::NotFound) => "no such resource in this tenant".to_owned(),
            ServiceError::Store(StoreError::Invalid(err)) | ServiceError::Invalid(err) => err.message.clone(),
            ServiceError::Store(StoreError::InUse(what)) => (*what).to_owned(),
            ServiceError::Store(StoreError::Conflict { field }) | ServiceError::Conflict { field } => {
                format!("{field} is already taken")
            }
            ServiceError::Store(_) | ServiceError::Internal(_) => INTERNAL_DETAIL.to_owned(),
            other => other.to_string(),
        }
    }

    /// The field of the input the failure is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Store(StoreError::Invalid(err)) | ServiceError::Invalid(err) => {
                Some(err.field.as_str()).filter(|field| !field.is_empty())
            }
            ServiceError::Store(StoreError::Conflict { field }) | ServiceError::Conflict { field } => Some(field),
            ServiceError::NotFound { field, .. } => *field,
            ServiceError::TenantRequired { field } => Some(field),
            _ => None,
        }
    }
}
