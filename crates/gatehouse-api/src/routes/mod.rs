//! The `/api/v1` resources. Each handler extracts (caller, tenant, input), makes
//! one store call and maps the result; the extractors and [`crate::error`] do the rest.

pub mod access_levels;
pub mod access_log;
pub mod access_points;
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod credentials;
pub mod decisions;
pub mod denials;
pub mod devices;
pub mod doors;
pub mod events;
pub mod grants;
pub mod groups;
pub mod holidays;
pub mod lockdowns;
pub mod mfa;
pub mod people;
pub mod roles;
pub mod schedules;
pub mod sites;
pub mod tenants;
pub mod units;
pub mod zones;

use serde::Deserialize;
use utoipa::IntoParams;

/// The tenant a platform-level caller acts in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct TenantHeader {
    /// The tenant's id or slug. Required for platform-level credentials.
    #[serde(rename = "Gatehouse-Tenant")]
    #[param(rename = "Gatehouse-Tenant")]
    pub tenant: String,
}

/// `Idempotency-Key` for POST requests.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Same key and body: the stored response, one effect. Same key, other body: 422.
    #[serde(rename = "Idempotency-Key")]
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub key: Option<String>,
}
