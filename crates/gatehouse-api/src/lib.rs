//! The HTTP edge of Gatehouse: REST under `/api/v1`, problem details, request
//! ids, idempotency keys, metrics, health and the OpenAPI document.
//!
//! Handlers are thin (extract, one service or store call, map): what is more
//! than one store call lives in `gatehouse-services`, shared with the MQTT edge.
//! [`auth::TenantContext`] is the only way to reach tenant data, and
//! [`error::ApiError`] is the only way a failure leaves the server.

pub mod auth;
pub mod bootstrap;
pub mod error;
pub mod extract;
mod guard;
pub mod idempotency;
pub mod metric_descriptions;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod permissions;
pub mod routes;
pub mod scope;
pub mod state;

use axum::extract::Request;
use axum::http::{HeaderName, Request as HttpRequest};
use axum::response::{IntoResponse, Response};
use axum::{middleware, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;
use crate::guard::{Authorization, Guard};
pub use crate::state::{AppState, Limits};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/docs";

/// Every route with its OpenAPI description, before state and middleware.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use routes::*;
    let v1 = OpenApiRouter::new()
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::get_tenant, tenants::update_tenant, tenants::archive_tenant))
        .routes(routes!(sites::create_site, sites::list_sites))
        .routes(routes!(sites::get_site, sites::update_site, sites::delete_site))
        .routes(routes!(zones::create_zone, zones::list_zones))
        .routes(routes!(zones::get_zone, zones::update_zone, zones::delete_zone))
        .routes(routes!(units::create_unit, units::list_units))
        .routes(routes!(units::get_unit, units::update_unit, units::delete_unit))
        .routes(routes!(access_points::create_access_point, access_points::list_access_points))
        .routes(routes!(access_points::get_access_point, access_points::update_access_point, access_points::delete_access_point))
        .routes(routes!(people::create_person, people::list_people))
        .routes(routes!(people::import_people_csv))
        .routes(routes!(people::get_person, people::update_person, people::archive_person))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::list_sessions))
        .routes(routes!(auth::revoke_session))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::disable))
        .routes(routes!(mfa::verify))
        .routes(routes!(accounts::create_account, accounts::list_accounts))
        .routes(routes!(accounts::get_account, accounts::update_account))
        .routes(routes!(accounts::start_password_reset))
        .routes(routes!(accounts::list_account_sessions))
        .routes(routes!(accounts::add_account_role))
        .routes(routes!(accounts::remove_account_role))
        .routes(routes!(roles::list_permissions))
        .routes(routes!(roles::create_role, roles::list_roles))
        .routes(routes!(roles::get_role, roles::update_role, roles::delete_role))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::reset_password))
        .routes(routes!(authz::explain))
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::list_platform_audit))
        .routes(routes!(credentials::create_credential, credentials::list_credentials))
        .routes(routes!(credentials::get_credential, credentials::update_credential, credentials::delete_credential))
        .routes(routes!(schedules::create_schedule, schedules::list_schedules))
        .routes(routes!(schedules::get_schedule, schedules::update_schedule, schedules::delete_schedule))
        .routes(routes!(holidays::create_holiday_calendar, holidays::list_holiday_calendars))
        .routes(routes!(holidays::get_holiday_calendar, holidays::update_holiday_calendar, holidays::delete_holiday_calendar))
        .routes(routes!(access_levels::create_access_level, access_levels::list_access_levels))
        .routes(routes!(access_levels::get_access_level, access_levels::update_access_level, access_levels::delete_access_level))
        .routes(routes!(grants::create_grant, grants::list_grants))
        .routes(routes!(grants::get_grant, grants::delete_grant))
        .routes(routes!(groups::create_group, groups::list_groups))
        .routes(routes!(groups::get_group, groups::update_group, groups::delete_group))
        .routes(routes!(denials::create_denial, denials::list_denials))
        .routes(routes!(denials::delete_denial))
        .routes(routes!(doors::get_door, doors::put_door))
        .routes(routes!(doors::get_zone_rules, doors::put_zone_rules))
        .routes(routes!(doors::get_occupancy))
        .routes(routes!(doors::forgive))
        .routes(routes!(lockdowns::create_lockdown, lockdowns::list_lockdowns))
        .routes(routes!(lockdowns::get_lockdown, lockdowns::release_lockdown))
        .routes(routes!(devices::create_device, devices::list_devices))
        .routes(routes!(devices::get_device, devices::update_device, devices::delete_device))
        .routes(routes!(devices::rotate_device_credentials, devices::revoke_device_credentials))
        .routes(routes!(devices::create_command, devices::list_commands))
        .routes(routes!(devices::get_command))
        .routes(routes!(devices::get_telemetry))
        .routes(routes!(devices::unlock_access_point))
        .routes(routes!(decisions::decide))
        .routes(routes!(decisions::explain))
        .routes(routes!(access_log::list_log))
        .routes(routes!(access_log::export_log_csv))
        .routes(routes!(access_log::verify_log))
        .routes(routes!(events::list_events));
    let (router, mut spec) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(routes::auth::jwks))
        // Merged, not nested: every path names its /api/v1 prefix itself, so no
        // request pays for having it stripped and put back.
        .merge(v1)
        .split_for_parts();
    document_permissions(&mut spec);
    (router, spec)
}

/// Adds `x-permission` (from [`permissions::ROUTE_ACCESS`], the table the
/// middleware enforces) to every operation of the spec.
fn document_permissions(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::extensions::ExtensionsBuilder;
    for (path, item) in spec.paths.paths.iter_mut() {
        let operations = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation.as_mut() {
                let access = permissions::access_for(method, path);
                let code = access.map_or("undeclared", |access| access.code());
                let located = matches!(access, Some(permissions::Access::Located(_)));
                let extension = ExtensionsBuilder::new()
                    .add("x-permission", serde_json::Value::from(code))
                    .add("x-permission-scoped", serde_json::Value::from(located))
                    .build();
                match operation.extensions.as_mut() {
                    Some(existing) => existing.merge(extension),
                    None => operation.extensions = Some(extension),
                }
            }
        }
    }
}

/// The whole application: routes, docs, middleware and state.
pub fn router(state: AppState) -> Router {
    assemble(state, Authorization::Checked)
}

/// The same application with authentication and authorization replaced by a
/// fixed bootstrap caller in `tenant`. Only for measuring what authentication
/// costs (`gatehouse-bench auth-overhead`); the `bench` feature keeps it out of
/// every normal build.
#[cfg(feature = "bench")]
pub fn router_without_authentication(state: AppState, tenant: gatehouse_domain::tenancy::Tenant) -> Router {
    assemble(state, Authorization::Fixed(std::sync::Arc::new(tenant)))
}

/// Every routed request clones its route's service, and each layer that axum
/// adds per route (`route_layer`, `Router::layer`) boxes the one inside it, so
/// the cost grows with the square of their number (measured: the clones were
/// the top cost of the HTTP stack at 20,000 decisions/s). Hence the per-route
/// steps are one layer ([`guard`]), and the layers that see every request
/// wrap the router once, as a whole.
fn assemble(state: AppState, authorization: Authorization) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let (routes, spec) = api_routes();
    ops::openapi_document(|| spec);
    let guard = Guard { state: state.clone(), authorization };
    // A panic becomes a 500 inside the guard, so idempotency sees it (and releases the key).
    let per_route = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(guard, guard::guard))
        .layer(CatchPanicLayer::custom(|_panic| ApiError::internal(&"a handler panicked").into_response()));
    let routes = routes
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .route_layer(per_route)
        // The docs UI is static and public; merged after the route layer, so
        // outside the permission table.
        .merge(SwaggerUi::new(DOCS_PATH).config(Config::from(OPENAPI_PATH)))
        .fallback(route_not_found)
        .with_state(state);
    let whole = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &HttpRequest<_>| {
            let request_id = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
        }))
        .service(routes);
    Router::new().fallback_service(whole)
}

async fn route_not_found(request: Request) -> Response {
    ::metrics::counter!(crate::metrics::HTTP_REQUESTS_TOTAL, "route" => "unmatched", "method" => request.method().to_string(), "status" => "404")
        .increment(1);
    ApiError::route_not_found(request.uri().path()).into_response()
}
