//! Who is calling, for which tenant, and whether the route's permission is held:
//! the authorizing middleware and the extractors every route takes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::authz::{decide, permitted_scopes, Assignment, BuiltinRole, Permission, PermissionSet, Scope, Target};
use gatehouse_domain::tenancy::{Tenant, TenantStatus};
use gatehouse_domain::{AccountId, ApiKeyId, SessionId, TenantId};
use gatehouse_store::StoreError;

use crate::error::ApiError;
use crate::permissions::{requirement_for, route_is_declared, Access};
use crate::state::AppState;

/// The header a platform-level caller names the tenant in.
pub const TENANT_HEADER: &str = "gatehouse-tenant";

/// The authenticated identity behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap operator token: the platform's break-glass credential.
    Bootstrap,
    /// An account, through an access token of one of its sessions.
    Account { account_id: AccountId, session_id: SessionId },
    /// An integration's API key.
    ApiKey { key_id: ApiKeyId },
}

impl Principal {
    /// A stable label for idempotency scopes and logs; never the secret.
    pub fn label(&self) -> String {
        match self {
            Principal::Bootstrap => "bootstrap".to_owned(),
            Principal::Account { account_id, .. } => format!("account:{account_id}"),
            Principal::ApiKey { key_id } => format!("api_key:{key_id}"),
        }
    }
}

/// An authenticated caller and the role assignments it holds.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub assignments: Arc<[Assignment]>,
    /// Who the caller is in the audit trail.
    pub actor: Actor,
    /// The request's `x-request-id` and the client's address, recorded with its changes.
    pub request_id: Option<String>,
    pub source: Option<String>,
    /// The tenant an account's token is bound to; `None` for platform-level credentials.
    pub bound_tenant: Option<TenantId>,
    /// For accounts: whether a second factor is enrolled. Other credentials count as enrolled.
    pub mfa_enrolled: bool,
    /// When the request arrived: every change it makes is stamped with this one instant.
    pub at: DateTime<Utc>,
}

impl Caller {
    /// The bootstrap token holds `platform_admin` everywhere, through the same
    /// decision path as any other caller rather than a bypass.
    pub fn bootstrap(at: DateTime<Utc>) -> Caller {
        // Built once, not allocated again for every request the bootstrap token makes.
        static ASSIGNMENTS: std::sync::OnceLock<Arc<[Assignment]>> = std::sync::OnceLock::new();
        let assignments = ASSIGNMENTS.get_or_init(|| {
            Arc::from(vec![Assignment {
                id: uuid::Uuid::nil(),
                role_name: BuiltinRole::PlatformAdmin.name().to_owned(),
                permissions: BuiltinRole::PlatformAdmin.effective_permissions(),
                tenant_id: None,
                scope: Scope::Tenant,
                valid_from: None,
                valid_until: None,
            }])
        });
        Caller {
            principal: Principal::Bootstrap,
            assignments: assignments.clone(),
            actor: Actor::bootstrap(),
            request_id: None,
            source: None,
            bound_tenant: None,
            mfa_enrolled: true,
            at,
        }
    }

    /// Whether `tenant` requires a second factor of this caller that it has not enrolled.
    pub fn lacks_required_mfa(&self, tenant: &Tenant) -> bool {
        !self.mfa_enrolled
            && self
                .assignments
                .iter()
                .any(|assignment| tenant.mfa_required_roles.iter().any(|role| role.name() == assignment.role_name))
    }

    /// What a change made by this caller records about it, as of now.
    pub fn change(&self) -> ChangeContext {
        ChangeContext { actor: self.actor.clone(), request_id: self.request_id.clone(), source: self.source.clone(), at: self.at }
    }

    /// Whether a platform-level assignment (one not tied to a tenant) grants `permission` now.
    pub fn holds_platform(&self, permission: Permission, now: DateTime<Utc>) -> bool {
        gatehouse_domain::authz::holds_platform(&self.assignments, permission, now)
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

/// Where and when a request came from, recorded with the changes it makes.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    pub request_id: Option<String>,
    pub source: Option<String>,
    /// The one reading of the clock for the request: its checks and its changes use it.
    pub at: DateTime<Utc>,
}

impl RequestOrigin {
    pub fn of(request: &Request, at: DateTime<Utc>) -> RequestOrigin {
        RequestOrigin {
            at,
            request_id: request.headers().get(crate::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned),
            source: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string()),
        }
    }
}

/// The client's address, for handlers of public routes (login).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string())))
    }
}

/// The client's `User-Agent`, cut to what a session records.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(USER_AGENT_CHARS_MAX).collect())
}

/// Longest `User-Agent` a session keeps.
const USER_AGENT_CHARS_MAX: usize = 256;

/// Resolves the credential of a request to a caller, or 401.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, origin: RequestOrigin) -> Result<Caller, ApiError> {
    let token = bearer_token(headers)?;
    let mut caller = if token.starts_with(crate::bootstrap::BOOTSTRAP_TOKEN_PREFIX) {
        if !state.bootstrap.verify(token).await.map_err(ApiError::from)? {
            return Err(ApiError::unauthorized("the credential is not valid"));
        }
        Caller::bootstrap(origin.at)
    } else if token.starts_with(gatehouse_services::identity::api_keys::API_KEY_PREFIX) {
        let key = state
            .identity
            .api_keys
            .authenticate(state.store.as_ref(), token)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid, or was revoked or has expired"))?;
        let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(key.tenant_id)).await.map_err(ApiError::from)?;
        Caller {
            principal: Principal::ApiKey { key_id: key.id },
            assignments: vec![key.to_assignment(&catalog)].into(),
            actor: Actor { kind: "api_key".into(), id: Some(key.id.as_uuid()), label: format!("{} ({})", key.name, key.prefix) },
            request_id: None,
            source: None,
            bound_tenant: Some(key.tenant_id),
            mfa_enrolled: true,
            at: origin.at,
        }
    } else {
        let verified = state.identity.tokens.verify(token).map_err(ApiError::unauthorized)?;
        let entry = state
            .identity
            .sessions
            .get(state.store.as_ref(), &state.identity.roles, verified.session_id)
            .await
            .map_err(ApiError::from)?
            .filter(|entry| entry.account_id == verified.account_id && entry.tenant_id == verified.tenant_id)
            .ok_or_else(|| ApiError::unauthorized("the token's session does not exist"))?;
        if !entry.active {
            return Err(ApiError::unauthorized("the token's session has ended"));
        }
        Caller {
            principal: Principal::Account { account_id: entry.account_id, session_id: verified.session_id },
            assignments: entry.assignments.clone(),
            actor: entry.actor.clone(),
            request_id: None,
            source: None,
            bound_tenant: entry.tenant_id,
            mfa_enrolled: entry.mfa_enrolled,
            at: origin.at,
        }
    };
    caller.request_id = origin.request_id;
    caller.source = origin.source;
    Ok(caller)
}

/// Resolves the tenant a call acts in: the one the caller's token is bound to,
/// or the one a platform-level caller names in `Gatehouse-Tenant`. It must be active.
async fn resolve_tenant(state: &AppState, headers: &HeaderMap, bound: Option<TenantId>) -> Result<Arc<Tenant>, ApiError> {
    let named = headers
        .get(TENANT_HEADER)
        .map(|value| value.to_str().map(|v| v.trim().to_owned()))
        .transpose()
        .map_err(|_| ApiError::invalid_header("Gatehouse-Tenant", "the header is not valid text"))?;
    let name = match (&named, bound) {
        (Some(named), _) => named.clone(),
        (None, Some(bound)) => bound.to_string(),
        (None, None) => return Err(ApiError::tenant_required()),
    };
    let tenant = match state.tenants.find(&name).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => {
            return Err(ApiError::not_found(format!("no tenant '{name}'")).with_field("Gatehouse-Tenant"))
        }
        Err(err) => return Err(err.into()),
    };
    if bound.is_some_and(|bound| bound != tenant.id) {
        return Err(ApiError::forbidden("this token acts in another tenant; log in to that tenant for a token there"));
    }
    if tenant.status != TenantStatus::Active {
        return Err(ApiError::tenant_suspended(tenant.slug.as_str(), tenant.status.as_str()));
    }
    Ok(tenant)
}

/// A step of [`crate::guard`]: authenticates, resolves the tenant and checks the
/// permission the route declares in [`crate::permissions::ROUTE_ACCESS`], then
/// hands `next` (and so the handler) a [`PlatformCaller`] or [`TenantContext`].
/// A route that declares nothing is refused.
pub async fn authorize<Next, Answer>(state: &AppState, mut request: Request, next: Next) -> Response
where
    Next: FnOnce(Request) -> Answer,
    Answer: Future<Output = Response>,
{
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("", MatchedPath::as_str);
    let Some((access, permission)) = requirement_for(request.method().as_str(), route) else {
        if route_is_declared(route) {
            // The route exists with other methods: let the router answer 405.
            return next(request).await;
        }
        tracing::error!(method = %request.method(), %route, "route declares no permission; refused");
        return ApiError::forbidden("this route declares no permission, so nobody may call it").into_response();
    };
    let now = Utc::now();
    let granted = match (access, permission) {
        (Access::Public, _) => return next(request).await,
        (Access::Authenticated, _) => match authenticate(state, request.headers(), RequestOrigin::of(&request, now)).await {
            Err(err) => Err(err),
            Ok(caller) => {
                request.extensions_mut().insert(AuthenticatedCaller { caller });
                Ok(())
            }
        },
        (Access::Platform(_) | Access::Tenant(_) | Access::Located(_), None) => {
            Err(ApiError::forbidden(format!("the route needs an unknown permission '{}'", access.code())))
        }
        (Access::Platform(_), Some(permission)) => {
            match authenticate(state, request.headers(), RequestOrigin::of(&request, now)).await {
                Err(err) => Err(err),
                Ok(caller) if caller.holds_platform(permission, now) => {
                    request.extensions_mut().insert(PlatformCaller { caller });
                    Ok(())
                }
                Ok(_) => Err(ApiError::forbidden(format!("requires the platform permission {permission}"))),
            }
        }
        (Access::Tenant(_) | Access::Located(_), Some(permission)) => {
            let located = matches!(access, Access::Located(_));
            let origin = RequestOrigin::of(&request, now);
            match authorize_in_tenant(state, request.headers(), origin, permission, located, now).await {
                Err(err) => Err(err),
                Ok(context) => {
                    request.extensions_mut().insert(context);
                    Ok(())
                }
            }
        }
    };
    match granted {
        Ok(()) => next(request).await,
        Err(err) => err.into_response(),
    }
}

/// Authenticates, resolves the tenant and decides `permission` there. Over the
/// whole tenant, any route may pass; for `located` routes, an assignment scoped
/// to sites or zones also passes, and the handler checks each place it touches.
async fn authorize_in_tenant(
    state: &AppState,
    headers: &HeaderMap,
    origin: RequestOrigin,
    permission: Permission,
    located: bool,
    now: DateTime<Utc>,
) -> Result<TenantContext, ApiError> {
    let caller = authenticate(state, headers, origin).await?;
    let tenant = resolve_tenant(state, headers, caller.bound_tenant).await?;
    if caller.lacks_required_mfa(&tenant) {
        return Err(ApiError::mfa_enrollment_required(tenant.slug.as_str()));
    }
    let decision = decide(&caller.assignments, tenant.id, permission, Target::Tenant, now);
    if decision.allowed {
        return Ok(TenantContext { caller, tenant, permission, reach: Reach::Tenant });
    }
    if located {
        let scopes = permitted_scopes(&caller.assignments, tenant.id, permission, now);
        if !scopes.is_empty() {
            return Ok(TenantContext { caller, tenant, permission, reach: Reach::Scopes(scopes.into()) });
        }
    }
    let reason = serde_json::to_value(decision.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Err(ApiError::forbidden(format!("requires {permission} in tenant '{}' ({reason})", tenant.slug)))
}

/// Any authenticated caller, for routes about the caller itself (`/auth/me`, logout).
#[derive(Debug, Clone)]
pub struct AuthenticatedCaller {
    pub caller: Caller,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<AuthenticatedCaller>().ok_or_else(|| ApiError::internal(&"a route ran without authentication"))
    }
}

/// A caller whose platform-level permission for this route was checked.
#[derive(Debug, Clone)]
pub struct PlatformCaller {
    pub caller: Caller,
}

impl<S: Send + Sync> FromRequestParts<S> for PlatformCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<PlatformCaller>()
            .ok_or_else(|| ApiError::internal(&"a platform route ran without authorization"))
    }
}

/// Where the route's permission holds for a caller: the tenant, or only inside
/// some sites and zones (resolved and checked by [`crate::scope`]).
#[derive(Debug, Clone)]
pub enum Reach {
    /// Everywhere in the tenant.
    Tenant,
    /// Only inside these site and zone scopes.
    Scopes(Arc<[Scope]>),
}

/// A caller acting inside one active tenant, with the route's permission checked.
/// Every tenant route takes this, so no handler reaches tenant data without a
/// tenant to scope it by. Only the authentication code here makes one (its fields
/// are private): no other code can name a tenant and a permission it was not given.
#[derive(Debug, Clone)]
pub struct TenantContext {
    caller: Caller,
    tenant: Arc<Tenant>,
    /// The permission the route required.
    permission: Permission,
    /// Where that permission holds for this caller.
    reach: Reach,
}

impl TenantContext {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The permission the route required.
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// Where that permission holds for this caller.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// When the request arrived (the request's one reading of the clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.caller.at
    }

    /// The permissions the caller holds over the whole tenant at `now`: what it may give
    /// (roles, API keys) or define (custom roles).
    pub fn held_tenant_wide(&self, now: DateTime<Utc>) -> PermissionSet {
        PermissionSet::all()
            .iter()
            .filter(|permission| decide(&self.caller.assignments, self.tenant_id(), *permission, Target::Tenant, now).allowed)
            .fold(PermissionSet::EMPTY, PermissionSet::with)
    }

    /// For measuring the HTTP stack without authentication: the bootstrap caller in `tenant`.
    #[cfg(feature = "bench")]
    pub(crate) fn fixed_for_bench(tenant: Arc<Tenant>) -> TenantContext {
        TenantContext {
            caller: Caller::bootstrap(Utc::now()),
            tenant,
            permission: Permission::from_index(0),
            reach: Reach::Tenant,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<TenantContext>().ok_or_else(|| ApiError::internal(&"a tenant route ran without authorization"))
    }
}
