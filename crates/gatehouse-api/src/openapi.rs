//! The OpenAPI document's frame: info, tags and the bearer security scheme. The
//! paths and schemas come from the `#[utoipa::path]` annotations on the handlers,
//! collected as routes are registered, so the spec cannot miss a route.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        description = "Multi-tenant physical access control and building operations. \
            Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`. \
            Lists page with `?limit=&cursor=` and answer `{\"items\": [...], \"next_cursor\": ...}`. \
            Platform-level credentials name the tenant in the `Gatehouse-Tenant` header (id or slug). \
            POST honours `Idempotency-Key`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerSecurity),
    tags(
        (name = "tenants", description = "Tenants: communities, companies, properties (platform level)"),
        (name = "sites", description = "Physical locations, each with an IANA time zone"),
        (name = "zones", description = "Buildings, floors, areas and parking, nested to any depth"),
        (name = "units", description = "Apartments, offices and rooms: households"),
        (name = "access points", description = "Doors, gates, barriers, turnstiles and elevator floors"),
        (name = "people", description = "Residents, employees, staff and visitors"),
        (name = "auth", description = "Login, tokens, sessions and the caller's own view"),
        (name = "accounts", description = "Accounts of the tenant and their roles"),
        (name = "api keys", description = "Keys of the tenant's integrations"),
        (name = "audit", description = "The admin audit trail: every change, who made it, before and after"),
        (name = "devices", description = "Controllers, readers, locks, sensors, panels, cameras and terminals, and their MQTT credentials"),
        (name = "events", description = "The event log: everything that happens, typed, in order, for rules, alarms and integrations"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The bootstrap operator token (ghb_...)"))
                    .build(),
            ),
        );
    }
}
