//! Who is calling, and for which tenant: the extractors every route takes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use gatehouse_domain::tenancy::{Tenant, TenantStatus};
use gatehouse_domain::TenantId;
use gatehouse_store::StoreError;

use crate::error::ApiError;
use crate::state::AppState;

/// The header a platform-level caller names the tenant in.
pub const TENANT_HEADER: &str = "gatehouse-tenant";

/// The authenticated identity behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap operator token: platform level, every permission.
    Bootstrap,
}

impl Principal {
    /// A stable label for idempotency scopes and logs; never the secret.
    pub fn label(&self) -> &'static str {
        match self {
            Principal::Bootstrap => "bootstrap",
        }
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send a credential as 'Authorization: Bearer <token>'"))?;
    let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized("expected 'Authorization: Bearer <token>'"));
    }
    Ok(token.trim())
}

/// A caller with a platform-level credential.
#[derive(Debug, Clone, Copy)]
pub struct PlatformCaller {
    pub principal: Principal,
}

impl FromRequestParts<AppState> for PlatformCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<PlatformCaller>() {
            return Ok(*caller);
        }
        let token = bearer_token(&parts.headers)?;
        if !state.bootstrap.verify(token).await.map_err(ApiError::from)? {
            return Err(ApiError::unauthorized("the credential is not valid"));
        }
        let caller = PlatformCaller { principal: Principal::Bootstrap };
        parts.extensions.insert(caller);
        Ok(caller)
    }
}

/// A caller acting inside one active tenant. Every tenant route takes this, so no
/// handler can reach tenant data without a tenant to scope it by.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub principal: Principal,
    pub tenant: Tenant,
}

impl TenantContext {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }
}

impl FromRequestParts<AppState> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = PlatformCaller::from_request_parts(parts, state).await?;
        let named = parts.headers.get(TENANT_HEADER).ok_or_else(ApiError::tenant_required)?;
        let named =
            named.to_str().map_err(|_| ApiError::invalid_header("Gatehouse-Tenant", "the header is not valid text"))?.trim();
        let tenant = match state.tenants.find(named).await {
            Ok(tenant) => tenant,
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found(format!("no tenant '{named}'")).with_field("Gatehouse-Tenant"))
            }
            Err(err) => return Err(err.into()),
        };
        if tenant.status != TenantStatus::Active {
            return Err(ApiError::tenant_suspended(tenant.slug.as_str(), tenant.status.as_str()));
        }
        Ok(TenantContext { principal: caller.principal, tenant })
    }
}
